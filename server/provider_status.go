package server

import (
	"slices"
	"sync"
	"time"

	"github.com/orbit-go/orbit/persistence"
)

// ProviderStatus is one configured provider as the server last saw it: its
// health from the health loop (every HealthInterval), never a probe made
// for the caller.
type ProviderStatus struct {
	Name string // the provider's name in the configuration
	Type string // its provider type ("memory", "etcd", ...)
	// Roles are the defaults it serves: "addressable", "cluster", both or
	// none (a provider only migrations or composites use).
	Roles        []string
	Health       persistence.Health
	CheckedAt    time.Time // zero: not checked yet
	Capabilities []string  // optional driver capabilities, in driver.AllCapabilities order
}

// providerStatuses holds the health loop's last results.
type providerStatuses struct {
	mu   sync.RWMutex
	list []ProviderStatus // sorted by name
	at   time.Time        // when the last round ended; zero: none yet
}

// set stores one round's results, which ended at at.
func (p *providerStatuses) set(list []ProviderStatus, at time.Time) {
	slices.SortFunc(list, func(a, b ProviderStatus) int { return compareStrings(a.Name, b.Name) })
	p.mu.Lock()
	p.list, p.at = list, at
	p.mu.Unlock()
}

func (p *providerStatuses) get() []ProviderStatus {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.list)
}

// last returns the last round's results and when it ended (zero: none).
func (p *providerStatuses) last() ([]ProviderStatus, time.Time) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.list), p.at
}

// ProviderStatuses returns every configured provider with the health the
// health loop last found (before its first round: none). Readiness
// (/readyz, gRPC health) follows the default providers only.
func (s *Server) ProviderStatuses() []ProviderStatus { return s.provStatus.get() }

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
