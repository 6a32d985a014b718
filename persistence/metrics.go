package persistence

import "github.com/orbit-go/orbit/persistence/decorate"

// MetricsSnapshot holds the specification's standard counters for one
// provider (see decorate.MetricsSnapshot).
type MetricsSnapshot = decorate.MetricsSnapshot

// InProcessSampleEvery is how often the metrics decorator times an
// operation of an in-process backend (see decorate.InProcessSampleEvery).
const InProcessSampleEvery = decorate.InProcessSampleEvery

// ErrorCode returns the portable code of err ("" for nil, "unknown" if
// unclassified): the code label of the error metrics.
func ErrorCode(err error) string { return decorate.ErrorCode(err) }
