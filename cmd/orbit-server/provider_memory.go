package main

// The Memory provider is always compiled in: it is the embedded default of
// serve. The others are in provider_*.go, each left out by its build tag
// (orbit_no_etcd, orbit_no_redis, ...; orbit_minimal leaves out all of
// them); `version` lists what a binary has.
import _ "github.com/orbit-go/orbit/persistence/memory"
