// Package statuspage is the Orbit server's status page: an http.Handler
// serving embedded HTML, CSS and JavaScript (no CDN, no inline script: it
// works offline and under Content-Security-Policy default-src 'self') and
// a small read-only JSON API:
//
//	GET /                 the page
//	GET /api/v1/status    a Status snapshot
//	GET /api/v1/lookup    ?namespace=&type=&key=&key_kind= a Lookup (never places)
//	GET /api/v1/events    server-sent events: "status" with a Status each time it changes
//
// Only GET and HEAD are served (else 405). Everything is bounded: the
// event streams (MaxStreams, beyond: 503), the query parameters (the
// identifier limits of the orbit package), and the work: one snapshot is
// computed for all the streams, at most once per MinInterval.
//
// The handler does no authentication: mount it behind the admin auth.
package statuspage

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orbit-go/orbit"
	"golang.org/x/sync/singleflight"
)

//go:embed assets
var assets embed.FS

// Defaults of Options.
const (
	DefaultMaxStreams      = 32
	DefaultRefreshInterval = 2 * time.Second
	DefaultMinInterval     = 100 * time.Millisecond
	DefaultKeepAlive       = 15 * time.Second
	DefaultRequestTimeout  = 5 * time.Second
)

// maxQuery is the longest query string accepted (the identifier limits
// allow far less per parameter).
const maxQuery = 2048

// ErrTooManyStreams is the refusal of an event stream beyond MaxStreams.
var ErrTooManyStreams = errors.New("statuspage: too many event streams")

// Options tune a Handler; zero fields take the defaults.
type Options struct {
	// DefaultNamespace is the lookup form's namespace when none is given.
	DefaultNamespace string
	// MaxStreams bounds the open event streams (DefaultMaxStreams).
	MaxStreams int
	// RefreshInterval: how often the streams' snapshot is recomputed
	// without a change notice (lease expiries, provider health).
	RefreshInterval time.Duration
	// MinInterval: the least time between two snapshots of the streams,
	// however many changes come.
	MinInterval time.Duration
	// KeepAlive: how often an idle stream gets a comment line.
	KeepAlive time.Duration
	// RequestTimeout bounds the Source calls of one request.
	RequestTimeout time.Duration
}

// Handler serves the page and its API; create it with New.
type Handler struct {
	src   Source
	opt   Options
	files fs.FS
	mux   *http.ServeMux

	streams atomic.Int64
	sf      singleflight.Group

	hubMu   sync.Mutex
	subs    map[chan []byte]struct{}
	hubStop chan struct{} // non-nil while the hub runs
	last    []byte        // the last snapshot the hub sent (SSE-framed)
}

// New returns the handler of src.
func New(src Source, opt Options) *Handler {
	if opt.MaxStreams <= 0 {
		opt.MaxStreams = DefaultMaxStreams
	}
	if opt.RefreshInterval <= 0 {
		opt.RefreshInterval = DefaultRefreshInterval
	}
	if opt.MinInterval <= 0 {
		opt.MinInterval = DefaultMinInterval
	}
	if opt.KeepAlive <= 0 {
		opt.KeepAlive = DefaultKeepAlive
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = DefaultRequestTimeout
	}
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded directory exists: a build error otherwise
	}
	h := &Handler{src: src, opt: opt, files: files, subs: map[chan []byte]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", h.file("index.html"))
	mux.HandleFunc("/static/app.js", h.file("app.js"))
	mux.HandleFunc("/static/app.css", h.file("app.css"))
	mux.HandleFunc("/static/favicon.svg", h.file("favicon.svg"))
	mux.HandleFunc("/favicon.ico", h.file("favicon.svg"))
	mux.HandleFunc("/api/v1/status", h.status)
	mux.HandleFunc("/api/v1/lookup", h.lookup)
	mux.HandleFunc("/api/v1/events", h.events)
	h.mux = mux
	return h
}

// Paths are the paths the handler serves, for mounting on a mux that
// serves other paths too.
func Paths() []string {
	return []string{"/{$}", "/static/", "/favicon.ico", "/api/v1/"}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "status page: method "+r.Method+" not allowed (read-only: GET, HEAD)", http.StatusMethodNotAllowed)
		return
	}
	if len(r.URL.RawQuery) > maxQuery {
		http.Error(w, fmt.Sprintf("status page: query string is %d bytes, at most %d", len(r.URL.RawQuery), maxQuery), http.StatusRequestURITooLong)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) file(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, h.files, name)
	}
}

func (h *Handler) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.opt.RequestTimeout)
}

// snapshot is the Source's status, one computation for concurrent callers.
func (h *Handler) snapshot(ctx context.Context) (Status, error) {
	v, err, _ := h.sf.Do("status", func() (any, error) {
		// Detached from the first caller's cancellation: others share it.
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.opt.RequestTimeout)
		defer cancel()
		return h.src.Status(c)
	})
	if err != nil {
		return Status{}, err
	}
	return v.(Status), nil
}

func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "status page: encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(b, '\n'))
	}
}

type apiError struct {
	Error string `json:"error"`
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.ctx(r)
	defer cancel()
	st, err := h.snapshot(ctx)
	if err != nil {
		writeJSON(w, r, http.StatusServiceUnavailable, apiError{"status: " + err.Error()})
		return
	}
	writeJSON(w, r, http.StatusOK, st)
}

// ParseReference reads the lookup parameters: namespace (default
// defaultNS), type, key and key_kind ("string", the default; "int32",
// "int64" or "none"). The error names the bad parameter.
func ParseReference(q map[string][]string, defaultNS string) (orbit.AddressableReference, error) {
	get := func(name string) (string, error) {
		v := q[name]
		switch len(v) {
		case 0:
			return "", nil
		case 1:
			return v[0], nil
		}
		return "", orbit.InvalidArgument(name, "given %d times, at most once", len(v))
	}
	var ref orbit.AddressableReference
	var err error
	var key, kind string
	if ref.Namespace, err = get("namespace"); err != nil {
		return ref, err
	}
	if ref.Namespace == "" {
		ref.Namespace = defaultNS
	}
	if ref.Type, err = get("type"); err != nil {
		return ref, err
	}
	if key, err = get("key"); err != nil {
		return ref, err
	}
	if kind, err = get("key_kind"); err != nil {
		return ref, err
	}
	switch kind {
	case "", "string":
		ref.Key = orbit.StringKey(key)
	case "int32":
		n, err := strconv.ParseInt(key, 10, 32)
		if err != nil {
			return ref, orbit.InvalidArgument("key", "not an int32: %v", err)
		}
		ref.Key = orbit.Int32Key(int32(n))
	case "int64":
		n, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return ref, orbit.InvalidArgument("key", "not an int64: %v", err)
		}
		ref.Key = orbit.Int64Key(n)
	case "none":
		if key != "" {
			return ref, orbit.InvalidArgument("key", "must be empty with key_kind none")
		}
		ref.Key = orbit.NoKey()
	default:
		return ref, orbit.InvalidArgument("key_kind", "%.40q must be string, int32, int64 or none", kind)
	}
	if err := ref.Validate(); err != nil {
		return ref, err
	}
	return ref, nil
}

func (h *Handler) lookup(w http.ResponseWriter, r *http.Request) {
	ref, err := ParseReference(r.URL.Query(), h.opt.DefaultNamespace)
	if err != nil {
		writeJSON(w, r, http.StatusBadRequest, apiError{"lookup: " + err.Error()})
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	res, err := h.src.Lookup(ctx, ref)
	if err != nil {
		writeJSON(w, r, http.StatusServiceUnavailable, apiError{"lookup " + ref.String() + ": " + err.Error()})
		return
	}
	// Not found is an answer, not an error: 200 with found false (a 404
	// would be a console error in the page for an ordinary lookup).
	writeJSON(w, r, http.StatusOK, res)
}

// events streams "status" events: the current snapshot at once, then each
// new one the hub computes (after a change notice, or every
// RefreshInterval when it differs from the previous one).
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "status page: event stream: the connection cannot stream", http.StatusInternalServerError)
		return
	}
	if n := h.streams.Add(1); n > int64(h.opt.MaxStreams) {
		h.streams.Add(-1)
		w.Header().Set("Retry-After", "10")
		http.Error(w, fmt.Sprintf("%v: %d are open, at most %d; poll /api/v1/status instead", ErrTooManyStreams, n-1, h.opt.MaxStreams),
			http.StatusServiceUnavailable)
		return
	}
	defer h.streams.Add(-1)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	ch, first := h.subscribe()
	defer h.unsubscribe(ch)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("retry: 2000\n\n"))
	if first == nil {
		ctx, cancel := h.ctx(r)
		st, err := h.snapshot(ctx)
		cancel()
		if err != nil {
			first = frame("failure", apiError{"status: " + err.Error()})
		} else {
			first = frame("status", st)
		}
	}
	if _, err := w.Write(first); err != nil {
		return
	}
	flusher.Flush()
	keep := time.NewTicker(h.opt.KeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.src.Done():
			return
		case b := <-ch:
			if _, err := w.Write(b); err != nil {
				return
			}
			flusher.Flush()
		case <-keep.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

// frame is one server-sent event of name with v as JSON data (one line:
// json.Marshal writes no newline).
func frame(name string, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(apiError{"encode: " + err.Error()})
		name = "failure"
	}
	var buf bytes.Buffer
	buf.Grow(len(b) + len(name) + 16)
	buf.WriteString("event: ")
	buf.WriteString(name)
	buf.WriteString("\ndata: ")
	buf.Write(b)
	buf.WriteString("\n\n")
	return buf.Bytes()
}

// subscribe adds a stream to the hub (starting it with the first) and
// returns its channel and the last snapshot sent (nil: none yet).
func (h *Handler) subscribe() (chan []byte, []byte) {
	ch := make(chan []byte, 1)
	h.hubMu.Lock()
	defer h.hubMu.Unlock()
	h.subs[ch] = struct{}{}
	if h.hubStop == nil {
		h.hubStop = make(chan struct{})
		h.last = nil
		go h.hub(h.hubStop)
	}
	return ch, h.last
}

func (h *Handler) unsubscribe(ch chan []byte) {
	h.hubMu.Lock()
	defer h.hubMu.Unlock()
	delete(h.subs, ch)
	if len(h.subs) == 0 && h.hubStop != nil {
		close(h.hubStop)
		h.hubStop = nil
	}
}

// broadcast hands b to every stream; a stream that has not taken the
// previous snapshot yet gets b instead (only the newest matters).
func (h *Handler) broadcast(stop chan struct{}, b []byte) {
	h.hubMu.Lock()
	defer h.hubMu.Unlock()
	if h.hubStop != stop {
		return // this hub was stopped (and maybe another started)
	}
	h.last = b
	for ch := range h.subs {
		select {
		case <-ch:
		default:
		}
		ch <- b
	}
}

// hub computes the snapshot for every stream: on a change notice (at most
// once per MinInterval) and every RefreshInterval, sending it when it
// differs from the previous one (GeneratedAt aside).
func (h *Handler) hub(stop chan struct{}) {
	var namespaces []string
	changes, unwatch := h.src.Changes(namespaces)
	defer func() { unwatch() }()
	refresh := time.NewTicker(h.opt.RefreshInterval)
	defer refresh.Stop()
	var prev []byte
	for {
		ctx, cancel := context.WithTimeout(context.Background(), h.opt.RequestTimeout)
		st, err := h.snapshot(ctx)
		cancel()
		var b []byte
		if err != nil {
			b = frame("failure", apiError{"status: " + err.Error()})
		} else {
			at := st.GeneratedAt
			st.GeneratedAt = time.Time{}
			cmp, _ := json.Marshal(st)
			st.GeneratedAt = at
			if !bytes.Equal(cmp, prev) {
				prev = cmp
				b = frame("status", st)
			}
			if ns := namespaceNames(st); !equalStrings(ns, namespaces) {
				namespaces = ns
				unwatch()
				changes, unwatch = h.src.Changes(namespaces)
			}
		}
		if b != nil {
			h.broadcast(stop, b)
		}
		pause := time.NewTimer(h.opt.MinInterval)
		select {
		case <-stop:
			pause.Stop()
			return
		case <-h.src.Done():
			pause.Stop()
			return
		case <-pause.C:
		}
		select {
		case <-stop:
			return
		case <-h.src.Done():
			return
		case <-changes:
		case <-refresh.C:
		}
	}
}

func namespaceNames(st Status) []string {
	out := make([]string, len(st.Namespaces))
	for i, n := range st.Namespaces {
		out[i] = n.Name
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
