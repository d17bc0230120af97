package pubsubtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// WithPlaintext serves gRPC without TLS. The real endpoint is TLS only and
// so is the fake by default; plaintext saves the handshake where transport
// security is not what a test is about, and hides a client that forgets TLS.
func WithPlaintext() Option { return func(c *config) { c.plaintext = true } }

// Certificate returns the server's self-signed certificate (generated for
// this server alone, valid for 127.0.0.1, ::1 and localhost), or nil when
// it serves plaintext.
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// CertPool returns a pool holding only the server's certificate, or nil
// when it serves plaintext.
func (s *Server) CertPool() *x509.CertPool {
	if s.cert == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.cert)
	return pool
}

// ClientTLSConfig returns a TLS configuration that trusts the server's
// certificate and nothing else, or nil when the server is plaintext.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.cert == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}
}

// SelfSigned makes a fresh self-signed certificate for the loopback
// addresses, as httptest does for its TLS servers, except that every call
// makes a new key: a client trusting one server does not trust another.
func SelfSigned(organization string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: generate a key: %w", organization, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: generate a serial number: %w", organization, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{organization}, SerialNumber: serial.String()},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: create a certificate: %w", organization, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: parse the certificate: %w", organization, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, nil
}
