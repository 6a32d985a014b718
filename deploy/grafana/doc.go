// Package grafana holds the tests of the Grafana dashboard of orbit-server
// (deploy/grafana/orbit-dashboard.json; docs/observability-metrics.md). It
// has no code of its own.
//
//   - TestDashboardShape: the file is valid JSON in Grafana's dashboard
//     schema; every panel has an id, a title, the ${DS_PROMETHEUS}
//     datasource and at least one query, and the datasource variable
//     exists;
//   - TestDashboardMetricsExported: every metric any query names (panels
//     and template variables) is exported on /metrics by a real server
//     (memory provider, after a few calls);
//   - TestMetricNames: the metric-name extraction itself, on known
//     expressions.
package grafana
