// Package tlsfiles builds a client tls.Config from the PEM files named in a
// provider's configuration (ca_cert, client_cert, client_key), with errors
// that name the configuration key.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Apply adds to base (or to a new TLS 1.2+ config when base is nil) the CA
// bundle caFile (verifying the servers instead of the system roots) and the
// client certificate certFile/keyFile (mTLS). Empty names are skipped. The
// errors wrap driver.ErrInvalidArgument and start with "<provider>: <key>".
func Apply(provider string, base *tls.Config, caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		tc = base.Clone()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: ca_cert: %v: %w", provider, err, driver.ErrInvalidArgument)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: ca_cert: no PEM certificate in %s: %w", provider, caFile, driver.ErrInvalidArgument)
		}
		tc.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, fmt.Errorf("%s: client_cert and client_key must be set together: %w", provider, driver.ErrInvalidArgument)
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: client_cert/client_key: %v: %w", provider, err, driver.ErrInvalidArgument)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
