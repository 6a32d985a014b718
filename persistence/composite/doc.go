// Package composite is the Composite storage provider: two configured
// providers, a primary and a backup, behind one driver, with failover to
// the backup and failback to the primary.
//
// # Roles
//
// At any moment one side is active: every read and every conditional write
// goes to it, and its native compare-and-swap decides every race, exactly
// as if it were the only provider. The other side is the standby. The lease
// logic of package persistence runs on top of the composite unchanged, so
// a lease's fencing epoch keeps growing across a failover (epochs are at
// least the placement time in microseconds, whichever side grants them).
//
// # Mirroring
//
// With Mirror = Sync (the default) a write is acknowledged only after the
// key has been copied to the standby. The copy re-reads the key on the
// active side and writes it to the standby with a compare-and-swap on the
// standby's version read just before, retrying lost races: two copies of
// one key racing from several servers can therefore never leave an older
// value over a newer one. If the standby cannot be written, the write is
// still acknowledged (the active side decided it) and the standby is
// marked behind; a full synchronisation catches it up as soon as it
// answers again, and no failover is made to a standby that is behind.
//
// With Mirror = Async only the full synchronisation, every SyncInterval,
// copies to the standby. A failover then loses the writes made since the
// start of the last completed synchronisation: leases granted or renewed
// in that window are unknown to the backup, so an addressable placed in
// that window may be placed again on another node while its first holder
// still runs. Async trades single activation across a failover for write
// latency; Sync keeps it.
//
// A full synchronisation lists both sides in key order and copies every
// key whose value differs (or deletes it from the standby), with the same
// per-key compare-and-swap copy.
//
// # Failover and failback
//
// Every HealthCheckInterval both sides are probed (the driver's own health
// check, else one read). After FailoverThreshold consecutive failed probes
// of the active primary, with the backup healthy and not behind, the
// composite promotes the backup: it records the switch in a state record
// on the backup (key StateKey) and sends every request there. A request
// that fails with ErrUnavailable on the primary while the failure is being
// confirmed waits for the decision (at most FailoverThreshold+1 intervals,
// within its context) and is retried on the backup, so callers see latency,
// not errors. A compare-and-swap that carries a version read from the other
// side fails with ErrConflict, and the lease logic re-reads and retries.
//
// When the primary answers again for FailoverThreshold consecutive probes,
// failback (automatic, or on request with RequestFailback when Failback is
// Manual) first synchronises the primary from the backup, so every lease
// granted during the outage is copied, then records a switch back at a
// time two intervals ahead, so that every server sharing the composite
// reads it in time and switches at the same moment; until then writes go
// to the backup and are mirrored to the primary.
//
// A server that starts while the state record on the backup says the
// backup is active starts on the backup. Servers follow the state record
// at every health check.
//
// # Limits
//
// Each server decides failover from its own probes. A network partition
// that hides the primary from some servers only is resolved by the state
// record within one HealthCheckInterval; in that window two servers can
// write to different sides. Which standby writes failed is known only to
// the server that made them.
package composite
