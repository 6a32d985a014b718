package client

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestClientDependencies keeps the client light: it speaks the vocabulary
// of package orbit, so a client-only binary links neither the persistence
// layer, nor its configuration parser, nor Prometheus.
func TestClientDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go") // the go command that runs this test
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/orbit-go/orbit/persistence",
		"github.com/BurntSushi/toml",
		"github.com/prometheus/",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("the client depends on %s", dep)
			}
		}
	}
}
