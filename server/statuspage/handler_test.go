package statuspage

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
)

// brokenSource is a Source whose backend fails: the server's Source
// cannot be made to fail its snapshot, so the handler's answer to a
// failure is tested with this one.
type brokenSource struct{ done chan struct{} }

var errBackend = errors.New("backend down")

func (brokenSource) Status(context.Context) (Status, error) { return Status{}, errBackend }
func (brokenSource) Lookup(context.Context, orbit.AddressableReference) (Lookup, error) {
	return Lookup{}, errBackend
}
func (brokenSource) Changes([]string) (<-chan struct{}, func()) {
	return make(chan struct{}), func() {}
}
func (b brokenSource) Done() <-chan struct{} { return b.done }

// A failing Source is 503 on the status and the lookup (naming the
// error), and a "failure" event on the stream, which stays open.
func TestSourceFailure(t *testing.T) {
	src := brokenSource{done: make(chan struct{})}
	srv := httptest.NewServer(New(src, Options{DefaultNamespace: "default"}))
	defer srv.Close()
	for _, p := range []string{"/api/v1/status", "/api/v1/lookup?type=T&key=k"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 256)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b[:n]), "backend down") {
			t.Errorf("GET %s: %s %s, want 503 naming the error", p, resp.Status, b[:n])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if line == "event: failure\n" {
			data, _ := r.ReadString('\n')
			if !strings.Contains(data, "backend down") {
				t.Errorf("failure event data %q", data)
			}
			break
		}
	}
	close(src.done) // the server stops: the stream ends
	for {
		if _, err := r.ReadString('\n'); err != nil {
			break
		}
	}
}
