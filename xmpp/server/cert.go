package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The self-signed pair's file names in Config.DataDir.
const (
	SelfSignedCert = "xmpp-selfsigned.crt"
	SelfSignedKey  = "xmpp-selfsigned.key"
)

// loadCertificate returns the configured certificate, or the self-signed
// one in dataDir, generating it the first time. Without a dataDir, a
// self-signed pair is made in memory (tests).
func loadCertificate(certFile, keyFile, dataDir, domain string) (tls.Certificate, error) {
	if certFile != "" || keyFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return c, fmt.Errorf("xmpp server: certificate: %w", err)
		}
		return c, nil
	}
	if dataDir == "" {
		certPEM, keyPEM, err := selfSigned(domain)
		if err != nil {
			return tls.Certificate{}, err
		}
		return tls.X509KeyPair(certPEM, keyPEM)
	}
	cp, kp := filepath.Join(dataDir, SelfSignedCert), filepath.Join(dataDir, SelfSignedKey)
	c, err := tls.LoadX509KeyPair(cp, kp)
	switch {
	case err == nil && !refusedByLibpurple(c):
		return c, nil
	case err == nil:
		// Made by an earlier owlgate, with an extended key usage that
		// Pidgin cannot accept (see selfSigned): made anew below.
		err = fs.ErrNotExist
		os.Remove(cp)
	case !errors.Is(err, fs.ErrNotExist):
		return c, fmt.Errorf("xmpp server: self-signed certificate in %s: %w (delete both files to make a new pair)", dataDir, err)
	}
	if _, err := os.Stat(cp); err == nil {
		return c, fmt.Errorf("xmpp server: %s exists without %s (delete it to make a new pair)", cp, kp)
	}
	certPEM, keyPEM, err := selfSigned(domain)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("xmpp server: %w", err)
	}
	if err := writeFileAtomic(kp, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(cp, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("xmpp server: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("xmpp server: %w", err)
	}
	return nil
}

// selfSigned makes an ECDSA P-256 certificate for domain and localhost,
// valid for ten years, in PEM.
func selfSigned(domain string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	names := []string{domain}
	if domain != "localhost" {
		names = append(names, "localhost")
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: domain, Organization: []string{"owlgate (self-signed)"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		// A CA that signs itself, and no extended key usage: libpurple
		// (Pidgin, Finch) checks the chain with NSS, which refuses a
		// self-signed CA limited to serverAuth as "invalid" without asking
		// the librarian, while it offers to accept this one.
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// refusedByLibpurple reports whether c is a self-signed pair an earlier
// owlgate made with the extended key usage libpurple refuses.
func refusedByLibpurple(c tls.Certificate) bool {
	if len(c.Certificate) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return false
	}
	ours := len(leaf.Subject.Organization) == 1 && leaf.Subject.Organization[0] == "owlgate (self-signed)"
	return ours && len(leaf.ExtKeyUsage) > 0
}

// Fingerprint is the SHA-256 fingerprint of a certificate's leaf, as
// clients show it ("AB:CD:..."), so that librarians can check the
// self-signed certificate their client asks them to accept.
func Fingerprint(c tls.Certificate) string {
	if len(c.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(c.Certificate[0])
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}
