package server_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/auth/authtest"
	"golang.org/x/tools/go/packages"
)

// isProfile reports whether b is a pprof profile: gzipped protobuf.
func isProfile(b []byte) bool {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return false
	}
	raw, err := io.ReadAll(zr)
	return err == nil && len(raw) > 0
}

// pprof is off by default: /debug/pprof/ is not served (404).
func TestPprofOff(t *testing.T) {
	s, _ := obsServer(t, server.NewBuilder())
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		if code, _ := httpGet(t, "http://"+s.AdminAddr()+path); code != http.StatusNotFound {
			t.Errorf("pprof off: GET %s = %d, want 404", path, code)
		}
	}
}

// Neither the server package nor the orbit-server binary links
// net/http/pprof, whose init registers the profiler on
// http.DefaultServeMux: a program embedding the server and serving the
// default mux must not expose it. (The test binary may: embedded etcd
// links it.)
func TestPprofNotOnDefaultServeMux(t *testing.T) {
	pkgs, err := packages.Load(&packages.Config{Mode: packages.NeedName | packages.NeedImports | packages.NeedDeps},
		"github.com/orbit-go/orbit/server", "github.com/orbit-go/orbit/cmd/orbit-server")
	if err != nil {
		t.Fatal(err)
	}
	packages.Visit(pkgs, func(p *packages.Package) bool {
		for _, e := range p.Errors {
			t.Errorf("%s: %v", p.PkgPath, e)
		}
		if _, ok := p.Imports["net/http/pprof"]; ok {
			t.Errorf("%s imports net/http/pprof", p.PkgPath)
		}
		return true
	}, nil)
}

// WithPprof(true) serves the index, named profiles (gzipped protobuf, or
// text with ?debug=1), a CPU profile and a trace; ?seconds beyond the
// bound is refused.
func TestPprofOn(t *testing.T) {
	s, _ := obsServer(t, server.NewBuilder().WithPprof(true))
	base := "http://" + s.AdminAddr()
	code, body := httpGet(t, base+"/debug/pprof/")
	if code != http.StatusOK || !strings.Contains(body, "/debug/pprof/heap") || !strings.Contains(body, "/debug/pprof/goroutine") {
		t.Fatalf("index: %d %q", code, body)
	}
	if code, body := httpGet(t, base+"/debug/pprof/heap?gc=1"); code != http.StatusOK || !isProfile([]byte(body)) {
		t.Errorf("heap profile: %d, %d bytes, profile %v", code, len(body), isProfile([]byte(body)))
	}
	if code, body := httpGet(t, base+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile: total") {
		t.Errorf("goroutine?debug=1: %d %.200q", code, body)
	}
	if code, body := httpGet(t, base+"/debug/pprof/profile?seconds=0.2"); code != http.StatusOK || !isProfile([]byte(body)) {
		t.Errorf("CPU profile: %d, %d bytes", code, len(body))
	}
	if code, body := httpGet(t, base+"/debug/pprof/trace?seconds=0.1"); code != http.StatusOK || len(body) == 0 {
		t.Errorf("trace: %d, %d bytes", code, len(body))
	}
	for _, q := range []string{"profile?seconds=61", "profile?seconds=-1", "profile?seconds=x", "trace?seconds=1e9", "heap?debug=7"} {
		if code, _ := httpGet(t, base+"/debug/pprof/"+q); code != http.StatusBadRequest {
			t.Errorf("GET /debug/pprof/%s = %d, want 400", q, code)
		}
	}
	if code, _ := httpGet(t, base+"/debug/pprof/nosuch"); code != http.StatusNotFound {
		t.Errorf("unknown profile: %d, want 404", code)
	}
	if code, _ := httpGet(t, base+"/debug/pprof/cmdline"); code != http.StatusNotFound {
		t.Errorf("cmdline (not served: it may carry secrets): %d, want 404", code)
	}
}

// With auth on, the profiler needs role admin: anonymous 401, a reader
// (enough for /metrics) 403, an admin 200.
func TestPprofNeedsAdmin(t *testing.T) {
	p := authtest.NewPKI(t)
	s := startServer(t, server.NewBuilder().WithNamespace("x").WithListenAddress("127.0.0.1:0").
		WithAdminAddress("127.0.0.1:0").WithTLS(p.ServerTLS(t)).WithAuth(authConfig()).WithPprof(true).WithLogger(quiet))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: p.ClientTLS(nil)}, Timeout: 30 * time.Second}
	get := func(path, token string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+s.AdminAddr()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		return resp.StatusCode, b
	}
	if code, _ := get("/debug/pprof/heap", ""); code != http.StatusUnauthorized {
		t.Errorf("anonymous heap profile: %d, want 401", code)
	}
	if code, _ := get("/metrics", scraperToken); code != http.StatusOK {
		t.Fatalf("reader /metrics: %d", code)
	}
	if code, body := get("/debug/pprof/heap", scraperToken); code != http.StatusForbidden || !strings.Contains(string(body), `role "admin"`) {
		t.Errorf("reader heap profile: %d %q, want 403 naming role admin", code, body)
	}
	if code, body := get("/debug/pprof/", scraperToken); code != http.StatusForbidden || strings.Contains(string(body), "goroutine") {
		t.Errorf("reader index: %d %q, want 403", code, body)
	}
	if code, body := get("/debug/pprof/heap", opsToken); code != http.StatusOK || !isProfile(body) {
		t.Errorf("admin heap profile: %d, %d bytes", code, len(body))
	}
}
