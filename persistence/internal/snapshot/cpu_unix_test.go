//go:build unix

package snapshot

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) used by the process so far, so
// that benchmarks on a shared machine can report what they cost themselves.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
