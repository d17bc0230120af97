package salesforcetest

import (
	"crypto/tls"
	"crypto/x509"
)

// WithPlaintext serves REST on http:// and Pub/Sub without TLS. Real
// instance URLs and the Pub/Sub endpoint are TLS only, and so is the fake
// org by default; plaintext saves the handshakes where transport security is
// not what a test is about, and hides a client that forgets TLS.
func WithPlaintext() Option { return func(c *config) { c.plaintext = true } }

// CertPool returns a pool of the org's certificates, REST's and Pub/Sub's,
// or nil under [WithPlaintext].
func (o *Org) CertPool() *x509.CertPool {
	if o.srv.Certificate() == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(o.srv.Certificate())
	if c := o.ps.Certificate(); c != nil {
		pool.AddCert(c)
	}
	return pool
}

// ClientTLSConfig returns a TLS configuration that trusts the org's REST
// and Pub/Sub certificates and nothing else, or nil under [WithPlaintext]:
// pass it to pubsub.WithTLSConfig to dial the org's Pub/Sub API.
func (o *Org) ClientTLSConfig() *tls.Config {
	pool := o.CertPool()
	if pool == nil {
		return nil
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
