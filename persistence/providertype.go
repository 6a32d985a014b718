package persistence

import "github.com/orbit-go/orbit/persistence/config"

// RegisterProviderType registers both halves of a provider type written out
// of tree, from the init function of its package: its configuration type
// (config.RegisterType(t, newDefault): files may then name type = "<t>")
// and its driver factory (RegisterDriver(t, f): the type may then be
// opened). It is the same as calling the two, except that it checks f and
// the driver registry first, so that a nil factory or a type whose driver is
// already registered panics before either half is registered.
//
// It panics on the misuse either function panics on (empty or duplicate
// type, nil newDefault or factory, a configuration type the config package
// cannot decode; see config.RegisterType).
func RegisterProviderType(t config.ProviderType, newDefault func() config.ProviderConfig, f DriverFactory) {
	if f == nil {
		panic("persistence: RegisterProviderType factory is nil for " + string(t))
	}
	driversMu.RLock()
	_, dup := drivers[t]
	driversMu.RUnlock()
	if dup {
		panic("persistence: RegisterProviderType: a driver is already registered for " + string(t))
	}
	config.RegisterType(t, newDefault)
	RegisterDriver(t, f)
}
