// Command orbit-server runs and operates an Orbit cluster server. Its
// commands (cobra; `orbit-server help COMMAND` explains each):
//
//	orbit-server serve [--config FILE]                 run the server (memory provider with disk backup by default)
//	orbit-server config validate FILE                  parse and validate a configuration, offline
//	orbit-server config show FILE                      print a configuration with secrets redacted
//	orbit-server check --config FILE                   open every provider and report its health
//	orbit-server migrate --config FILE --from A --to B copy both directories between two providers
//	orbit-server composite status|failback --config FILE --provider NAME
//	                                                   inspect or fail back a Composite provider
//	orbit-server token new NAME | token hash NAME     make a bearer token / the digest line [server.auth] stores
//	orbit-server nodes list|get, leases list|get, locate TYPE/KEY
//	                                                   look at a running server (docs/cli.md)
//	orbit-server node run --types T                    a demonstration node: joins, renews, prints its placements
//	orbit-server version                               print the version, revision, Go version and compiled-in providers
//
// Exit codes: 0 success, 1 the command failed, 2 usage error (migrate adds 3
// and 4).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
