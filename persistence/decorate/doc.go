// Package decorate holds the decorators of the driver contract: layers
// that wrap a driver.Store to measure it (Metrics) and, later, to trace it or
// inject faults into it, so that every backend is measured the same way
// without writing it again.
//
// A decorator must not change what the store it wraps can do. The lease
// logic discovers optional capabilities by type assertion
// (driver.CapabilitiesOf); a decorator that implemented every optional
// interface would claim capabilities its inner driver lacks. So a
// decorator implements the whole contract (Full) and is handed out through
// Narrow, which returns a value whose method set is exactly the inner
// driver's: Vault's physical-backend pattern (a Transactional layer only
// over a Transactional backend), generated for every combination of the
// optional interfaces (narrow_gen.go; regenerate with go generate).
package decorate
