package grafana_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/persistence/config"
	_ "github.com/orbit-go/orbit/persistence/memory"
	"github.com/orbit-go/orbit/server"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const dashboardFile = "orbit-dashboard.json"

// dashboard is the part of Grafana's dashboard schema the tests read.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Schema     int     `json:"schemaVersion"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string      `json:"expr"`
		RefID      string      `json:"refId"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": "..."}
	Datasource *datasource     `json:"datasource"`
}

// query is the PromQL (or label_values) of a query variable.
func (v variable) query(t *testing.T) string {
	t.Helper()
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &q); err != nil {
		t.Fatalf("variable %s: query %s: %v", v.Name, v.Query, err)
	}
	return q.Query
}

func load(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if dec.More() {
		t.Fatalf("%s has data after the dashboard object", dashboardFile)
	}
	return d
}

const dsVar = "${DS_PROMETHEUS}"

func TestDashboardShape(t *testing.T) {
	d := load(t)
	if d.Title == "" || d.UID == "" || d.Schema == 0 {
		t.Errorf("title %q, uid %q, schemaVersion %d: all required", d.Title, d.UID, d.Schema)
	}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}
	var hasDS bool
	for _, v := range d.Templating.List {
		if v.Name == "DS_PROMETHEUS" {
			hasDS = v.Type == "datasource" && v.query(t) == "prometheus"
		} else if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != dsVar) {
			t.Errorf("variable %s: datasource %+v, want %s", v.Name, v.Datasource, dsVar)
		}
	}
	if !hasDS {
		t.Error("no datasource variable DS_PROMETHEUS of type datasource (query prometheus)")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if p.ID == 0 || ids[p.ID] {
			t.Errorf("panel %q: id %d missing or repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != dsVar {
			t.Errorf("panel %q: datasource %+v, want prometheus %s", p.Title, p.Datasource, dsVar)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" || q.RefID == "" || refs[q.RefID] {
				t.Errorf("panel %q: query %q with refId %q (expr and a unique refId required)", p.Title, q.Expr, q.RefID)
			}
			refs[q.RefID] = true
			if q.Datasource != nil && q.Datasource.UID != dsVar {
				t.Errorf("panel %q: query datasource %+v, want %s", p.Title, q.Datasource, dsVar)
			}
		}
	}
}

// Metric names are read from the expressions with a small lexer rather
// than with Prometheus's PromQL parser (github.com/prometheus/prometheus/
// promql/parser would bring the whole Prometheus server module into
// go.mod for one test; prometheus/common has no PromQL parser). It
// removes what cannot hold a metric name (string literals, label matchers
// {...}, ranges [...], the label lists of by/without/on/ignoring/
// group_left/group_right), then takes every identifier that is not a
// number, a keyword, a Grafana variable or a function call. It errs on the
// safe side: an identifier it cannot classify counts as a metric name and
// must then be exported, and a call must be a known PromQL function.
var (
	reString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	reMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	reRange    = regexp.MustCompile(`\[[^\[\]]*\]`)
	reLabels   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	reIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	// reLabelValues is Grafana's label_values(metric-or-selector, label).
	reLabelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

	keywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true}
	functions = map[string]bool{
		"sum": true, "min": true, "max": true, "avg": true, "count": true, "stddev": true, "stdvar": true,
		"topk": true, "bottomk": true, "quantile": true, "count_values": true, "group": true,
		"rate": true, "irate": true, "increase": true, "delta": true, "idelta": true, "deriv": true,
		"histogram_quantile": true, "time": true, "abs": true, "clamp_min": true, "clamp_max": true,
		"avg_over_time": true, "max_over_time": true, "min_over_time": true, "sum_over_time": true,
		"absent": true, "changes": true, "resets": true, "label_replace": true, "label_join": true,
		"vector": true, "scalar": true, "round": true, "timestamp": true,
	}
)

// metricNames returns the metric names expr (PromQL, or label_values)
// names; an unknown function call is an error.
func metricNames(expr string) ([]string, error) {
	if m := reLabelValues.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	}
	e := reString.ReplaceAllString(expr, `""`)
	for _, re := range []*regexp.Regexp{reMatchers, reRange, reLabels} {
		for {
			next := re.ReplaceAllString(e, " ")
			if next == e {
				break
			}
			e = next
		}
	}
	var names []string
	for _, loc := range reIdent.FindAllStringIndex(e, -1) {
		word := e[loc[0]:loc[1]]
		if loc[0] > 0 {
			if c := e[loc[0]-1]; c == '$' || c == '.' || (c >= '0' && c <= '9') {
				continue // a Grafana variable, or the exponent of a number
			}
		}
		if keywords[word] {
			continue
		}
		if rest := strings.TrimLeft(e[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			if !functions[word] {
				return nil, &unknownFunc{word}
			}
			continue
		}
		if !slices.Contains(names, word) {
			names = append(names, word)
		}
	}
	return names, nil
}

type unknownFunc struct{ name string }

func (e *unknownFunc) Error() string { return "unknown PromQL function " + e.name }

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`orbit_build_info`, []string{"orbit_build_info"}},
		{`sum by (grpc_service, grpc_code) (rate(grpc_server_handled_total{job=~"$job", grpc_code!="OK"}[$__rate_interval]))`, []string{"grpc_server_handled_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{x="{y}"}[5m])))`, []string{"a_seconds_bucket"}},
		{`sum(rate(a_total[1m])) / (sum(rate(a_total[1m])) + sum without (instance) (rate(b_total[1m])))`, []string{"a_total", "b_total"}},
		{`time() - c_timestamp_seconds{p="q"} > 1e3`, []string{"c_timestamp_seconds"}},
		{`up == 1 and on (instance) d_info`, []string{"up", "d_info"}},
		{`label_values(orbit_build_info{job=~"$job"}, instance)`, []string{"orbit_build_info"}},
		{`label_values(orbit_build_info, job)`, []string{"orbit_build_info"}},
	} {
		got, err := metricNames(c.expr)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("metricNames(%q) = %q, %v; want %q", c.expr, got, err, c.want)
		}
	}
	if _, err := metricNames(`nosuchfunc(a_total)`); err == nil {
		t.Error("an unknown function was accepted")
	}
}

// Every metric a query of the dashboard names is exported by a real
// server: memory provider, admin listener, a node joined, renewed (and
// once refused), an addressable placed.
func TestDashboardMetricsExported(t *testing.T) {
	d := load(t)
	used := map[string][]string{} // metric -> where
	add := func(where, expr string) {
		names, err := metricNames(expr)
		if err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if len(names) == 0 {
			t.Errorf("%s: the query %q names no metric", where, expr)
		}
		for _, n := range names {
			used[n] = append(used[n], where)
		}
	}
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			add("panel "+p.Title+" "+q.RefID, q.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			add("variable "+v.Name, v.query(t))
		}
	}
	families := scrapeServer(t)
	for name, where := range used {
		if !exported(families, name) {
			t.Errorf("%s (used by %s) is not exported by the server", name, strings.Join(where, "; "))
		}
	}
	for _, must := range []string{"grpc_server_handled_total", "grpc_server_handling_seconds_bucket", "orbit_server_provider_up",
		"orbit_cluster_nodes", "orbit_cluster_leases", "orbit_persistence_operations_total", "orbit_build_info"} {
		if used[must] == nil {
			t.Errorf("no panel shows %s", must)
		}
	}
}

// exported reports whether name is a family of the scrape, or the
// _bucket, _sum or _count series of a histogram or summary family.
func exported(families map[string]*dto.MetricFamily, name string) bool {
	if mf, ok := families[name]; ok && len(mf.GetMetric()) > 0 {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		mf := families[base]
		if mf == nil || len(mf.GetMetric()) == 0 {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			return true
		case dto.MetricType_SUMMARY:
			return suffix != "_bucket"
		}
	}
	return false
}

// scrapeServer starts a server, makes a few calls and returns what its
// /metrics exports.
func scrapeServer(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithAdminAddress("127.0.0.1:0").WithPersistence(cfg).
		WithBuildInfo(server.BuildInfo{Version: "0.0.0-test", Revision: "test"}).
		WithLogger(slog.New(slog.DiscardHandler)).Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	nodes, addrs := orbitv1.NewNodeServiceClient(conn), orbitv1.NewAddressableServiceClient(conn)
	j, err := nodes.Join(ctx, &orbitv1.JoinRequest{Url: "grpc://127.0.0.1:1", Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.RenewLease(ctx, &orbitv1.RenewNodeLeaseRequest{Id: j.Id, ChallengeToken: j.Lease.ChallengeToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.RenewLease(ctx, &orbitv1.RenewNodeLeaseRequest{Id: j.Id, ChallengeToken: "wrong"}); err == nil {
		t.Fatal("a renewal with a wrong token succeeded")
	}
	ref := &orbitv1.AddressableReference{Type: "Greeter", Key: &orbitv1.AddressableKey{Key: &orbitv1.AddressableKey_StringKey{StringKey: "alice"}}}
	if _, err := addrs.LocateOrPlace(ctx, &orbitv1.LocateOrPlaceRequest{Reference: ref}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.AdminAddr()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}
