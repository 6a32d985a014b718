package server

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orbit-go/orbit/server/auth"
)

// Go's profiler on the admin port (WithPprof, --pprof, [server] pprof).
//
// The handlers are written here over runtime/pprof and runtime/trace
// rather than taken from net/http/pprof: importing net/http/pprof, even
// only to call its handlers, registers them on http.DefaultServeMux in its
// init, so that any program embedding the server and serving the default
// mux would expose the profiler, unprotected, whether pprof is on or not.
// These serve the same profiles in the same formats (go tool pprof
// http://host:9464/debug/pprof/heap works), minus /cmdline (the command
// line may carry secrets) and /symbol (Go profiles are symbolized).

const (
	pprofPrefix = "/debug/pprof/"
	// maxProfileSeconds bounds the ?seconds= of /debug/pprof/profile and
	// /debug/pprof/trace: a caller cannot keep the profiler, and a
	// goroutine of the admin listener, busy for longer.
	maxProfileSeconds = 60
	// defaultCPUSeconds and defaultTraceSeconds are net/http/pprof's.
	defaultCPUSeconds   = 30
	defaultTraceSeconds = 1
)

// mountPprof adds Go's profiler under /debug/pprof/ to the admin mux when
// enabled (WithPprof); off, nothing is mounted (404). With auth on,
// protectAdmin has already required role reader; the profiler
// additionally needs role admin (in some namespace): profiles show stacks
// and allocation sites, and a CPU profile or trace costs CPU while it runs.
//
//	/debug/pprof/           the list of profiles
//	/debug/pprof/<name>     a runtime/pprof profile (heap, goroutine, allocs,
//	                        block, mutex, threadcreate): ?debug=1 or 2 text,
//	                        else gzipped protobuf; ?gc=1 collects garbage first
//	/debug/pprof/profile    CPU profile for ?seconds= (default 30, at most 60)
//	/debug/pprof/trace      execution trace for ?seconds= (default 1, at most 60)
func (s *Server) mountPprof(mux *http.ServeMux) {
	if !s.pprof {
		return
	}
	mux.Handle(pprofPrefix, s.pprofAdmin(http.HandlerFunc(servePprof)))
}

// pprofAdmin refuses a request whose identity (set by protectAdmin) lacks
// role admin, when auth is on: 403 naming the role (401 if anonymous,
// which protectAdmin has refused already).
func (s *Server) pprofAdmin(h http.Handler) http.Handler {
	if s.authn == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := auth.FromContext(r.Context())
		if err := s.authn.Check(id, auth.Admin, auth.AnyNamespace); err != nil {
			code := http.StatusForbidden
			var d *auth.DeniedError
			if errors.As(err, &d) && d.Anonymous {
				code = http.StatusUnauthorized
				w.Header().Set("WWW-Authenticate", `Bearer realm="orbit-admin"`)
			}
			s.log.Debug("pprof request refused", "path", r.URL.Path, "identity", id.String(), "peer", r.RemoteAddr, "status", code)
			http.Error(w, "admin "+r.URL.Path+": "+err.Error(), code)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// servePprof dispatches /debug/pprof/<name>.
func servePprof(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	switch name := strings.TrimPrefix(r.URL.Path, pprofPrefix); name {
	case "":
		pprofIndex(w)
	case "profile":
		cpuProfile(w, r)
	case "trace":
		execTrace(w, r)
	default:
		namedProfile(w, r, name)
	}
}

// pprofIndex lists the profiles, one a line.
func pprofIndex(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var b strings.Builder
	b.WriteString("Go profiles of this server (go tool pprof <url>):\n\n")
	ps := pprof.Profiles()
	slices.SortFunc(ps, func(a, b *pprof.Profile) int { return strings.Compare(a.Name(), b.Name()) })
	for _, p := range ps {
		fmt.Fprintf(&b, "%s%s\t%d\n", pprofPrefix, p.Name(), p.Count())
	}
	fmt.Fprintf(&b, "%sprofile?seconds=N\tCPU profile (default %d s, at most %d)\n", pprofPrefix, defaultCPUSeconds, maxProfileSeconds)
	fmt.Fprintf(&b, "%strace?seconds=N\texecution trace (default %d s, at most %d)\n", pprofPrefix, defaultTraceSeconds, maxProfileSeconds)
	_, _ = w.Write([]byte(b.String()))
}

// namedProfile writes the runtime/pprof profile name.
func namedProfile(w http.ResponseWriter, r *http.Request, name string) {
	p := pprof.Lookup(name)
	if p == nil {
		http.Error(w, fmt.Sprintf("unknown profile %q (see %s)", name, pprofPrefix), http.StatusNotFound)
		return
	}
	debug := 0
	if v := r.URL.Query().Get("debug"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 2 {
			http.Error(w, fmt.Sprintf("debug must be 0, 1 or 2, got %q", v), http.StatusBadRequest)
			return
		}
		debug = n
	}
	if name == "heap" && r.URL.Query().Get("gc") == "1" {
		runtime.GC()
	}
	if debug == 0 {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	_ = p.WriteTo(w, debug) // a failure here is the client's connection
}

// cpuProfile writes a CPU profile of ?seconds=; one at a time (the
// runtime refuses a second, answered 409).
func cpuProfile(w http.ResponseWriter, r *http.Request) {
	d, ok := profileSeconds(w, r, defaultCPUSeconds)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="profile"`)
	if err := pprof.StartCPUProfile(w); err != nil {
		w.Header().Del("Content-Disposition")
		http.Error(w, "could not start the CPU profile: "+err.Error(), http.StatusConflict)
		return
	}
	wait(r, d)
	pprof.StopCPUProfile()
}

// execTrace writes an execution trace of ?seconds=; one at a time.
func execTrace(w http.ResponseWriter, r *http.Request) {
	d, ok := profileSeconds(w, r, defaultTraceSeconds)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="trace"`)
	if err := trace.Start(w); err != nil {
		w.Header().Del("Content-Disposition")
		http.Error(w, "could not start the trace: "+err.Error(), http.StatusConflict)
		return
	}
	wait(r, d)
	trace.Stop()
}

// profileSeconds is the request's ?seconds= (def when absent); a value
// that is not a number in (0, maxProfileSeconds] is answered 400.
func profileSeconds(w http.ResponseWriter, r *http.Request, def float64) (time.Duration, bool) {
	sec := def
	if v := r.URL.Query().Get("seconds"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || !(n > 0 && n <= maxProfileSeconds) {
			http.Error(w, fmt.Sprintf("seconds must be a number in (0, %d], got %q", maxProfileSeconds, v), http.StatusBadRequest)
			return 0, false
		}
		sec = n
	}
	return time.Duration(sec * float64(time.Second)), true
}

// wait sleeps d, or until the client goes away.
func wait(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}
