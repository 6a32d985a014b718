// Command orbit-server runs and operates an Orbit cluster server.
//
//	orbit-server config validate FILE   parse and validate a configuration, offline
//	orbit-server config show FILE       print a configuration with secrets redacted
//	orbit-server check --config FILE    open every provider and report its health
//	orbit-server version                print the version and the compiled-in providers
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
