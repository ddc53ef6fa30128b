package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"time"
)

// Cert is a self-signed certificate for localhost, *.localhost and
// 127.0.0.1, made once per test binary (ECDSA P-256, so it costs
// microseconds). It is its own CA: Pool trusts it.
type Cert struct {
	CertPEM []byte // the certificate
	KeyPEM  []byte // its private key, PKCS #8
	Pool    *x509.CertPool
}

var (
	certOnce sync.Once
	certVal  *Cert
	certErr  error
)

// LocalhostCert returns the test binary's self-signed certificate.
func LocalhostCert() (*Cert, error) {
	certOnce.Do(func() { certVal, certErr = makeCert() })
	return certVal, certErr
}

// ClientTLS returns a TLS client configuration that trusts LocalhostCert
// and expects the name serverName.
func ClientTLS(serverName string) *tls.Config {
	c, err := LocalhostCert()
	if err != nil {
		panic(err) // made once, from crypto/rand: does not fail in practice
	}
	return &tls.Config{ServerName: serverName, RootCAs: c.Pool, MinVersion: tls.VersionTLS12}
}

func makeCert() (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"owlgate tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", "*.localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return &Cert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
		Pool:    pool,
	}, nil
}
