package decorate

import "github.com/orbit-go/orbit/persistence/driver"

// NarrowMask exposes f with the combination of capability bits mask (the
// bit order of narrow.go), for tests that need a store of each combination.
func NarrowMask(mask int, f Full) driver.Store { return combos[mask](f) }
