package server_test

import (
	"strings"
	"testing"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/server"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// lintExempt are the metrics of libraries that promlint faults, each with
// the reason; Orbit's own metrics have no exemption.
var lintExempt = map[string]string{}

// Everything a real server exports on its admin port's /metrics (after a
// few calls, so that the persistence and error series exist too) passes
// promlint: names, units, suffixes, help texts.
func TestMetricsPromlint(t *testing.T) {
	s, conn := obsServer(t, server.NewBuilder().WithPprof(true).WithBuildInfo(server.BuildInfo{Version: "0.0.0-test"}))
	nodes, addrs := orbitv1.NewNodeServiceClient(conn), orbitv1.NewAddressableServiceClient(conn)
	j := join(t, nodes, "", "Greeter")
	if _, err := addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.RenewLease(bg, &orbitv1.RenewNodeLeaseRequest{Id: j.Id, ChallengeToken: "wrong"}); err == nil {
		t.Fatal("a renewal with a wrong token succeeded")
	}
	body, mfs := scrape(t, s)
	for _, name := range []string{"grpc_server_handled_total", "grpc_server_handling_seconds", "orbit_server_provider_up",
		"orbit_build_info", "orbit_persistence_operations_total"} {
		if mfs[name] == nil {
			t.Errorf("%s is not exported (the lint would prove nothing of it)", name)
		}
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if why, ok := lintExempt[p.Metric]; ok {
			t.Logf("exempt %s (%s): %s", p.Metric, why, p.Text)
			continue
		}
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
