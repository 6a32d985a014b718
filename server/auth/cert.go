package auth

import (
	"crypto/tls"
	"crypto/x509"
)

// CertificateName is the identity of a client certificate: its SPIFFE ID
// (the first URI SAN with scheme spiffe) if it has one, else its first DNS
// SAN, else its subject common name; "" when it has none of them.
func CertificateName(c *x509.Certificate) string {
	for _, u := range c.URIs {
		if u.Scheme == "spiffe" {
			return u.String()
		}
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.CommonName
}

// FromTLS returns the identity of the verified client certificate of a TLS
// connection; ok is false when the peer presented none or the handshake
// did not verify it (tls.RequestClientCert), or it names nothing.
func FromTLS(st *tls.ConnectionState, peerAddr string) (id Identity, ok bool) {
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return Identity{}, false
	}
	name := CertificateName(st.VerifiedChains[0][0])
	if name == "" {
		return Identity{}, false
	}
	return Identity{Name: name, Kind: Certificate, Peer: peerAddr}, true
}
