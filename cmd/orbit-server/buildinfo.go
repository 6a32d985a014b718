package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/orbit-go/orbit/persistence"
)

// version and revision may be set at build time with -ldflags
// "-X main.version=v1.2.3 -X main.revision=<commit>"; they win over the
// module version and the VCS stamp of the build info (which go build leaves
// out with -buildvcs=false).
var version, revision = "", ""

// buildInfo is what this binary is, as `version` and `--version` print it.
type buildInfo struct {
	Version   string // -X main.version, else the module version, else "devel"
	Revision  string // VCS revision ("" when built without VCS stamping)
	Time      string // VCS commit time, RFC 3339
	Modified  bool   // the work tree had uncommitted changes
	GoVersion string
	Platform  string // GOOS/GOARCH
	Providers []string
}

// readBuildInfo reads the build information the Go toolchain stamped into
// the binary (go build stamps the VCS fields when it builds inside a
// repository; go run and tests do not).
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Revision: revision, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Revision == "" {
					b.Revision = s.Value
				}
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	for _, t := range persistence.RegisteredTypes() {
		b.Providers = append(b.Providers, string(t))
	}
	return b
}

// buildVersion is the version alone, for logs.
func buildVersion() string { return readBuildInfo().Version }

// String renders the information on five lines, as `version` prints it.
func (b buildInfo) String() string {
	rev := b.Revision
	switch {
	case rev == "":
		rev = "unknown (built outside a git checkout or with -buildvcs=false)"
	case b.Modified:
		rev += "+dirty"
	}
	var s strings.Builder
	fmt.Fprintf(&s, "orbit-server %s\n", b.Version)
	fmt.Fprintf(&s, "revision:  %s\n", rev)
	if b.Time != "" {
		fmt.Fprintf(&s, "built from a commit of %s\n", b.Time)
	}
	fmt.Fprintf(&s, "go:        %s %s\n", b.GoVersion, b.Platform)
	fmt.Fprintf(&s, "providers: %s\n", strings.Join(b.Providers, ", "))
	return s.String()
}
