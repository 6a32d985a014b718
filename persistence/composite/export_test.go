package composite

// WaitBackground waits for the background synchronisation, if one runs.
func (s *Store) WaitBackground() { s.bg.Wait() }

// FailbackNow makes the failback switch at once, as the scheduled switch
// of a recorded failback does.
func (s *Store) FailbackNow() {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.failbackSwitch(State{Active: Primary, Since: s.opt.Clock.Now()})
}
