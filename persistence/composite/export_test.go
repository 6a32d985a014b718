package composite

// WaitBackground waits for the background synchronisation, if one runs.
func (s *Store) WaitBackground() { s.bg.Wait() }
