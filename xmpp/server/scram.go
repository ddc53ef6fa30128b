package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"
)

// Passwords are never kept: New derives, for each operator and each hash
// (SHA-1 and SHA-256), the salted SCRAM credentials of RFC 5802 (StoredKey
// and ServerKey, from a random salt and Config.ScramIterations rounds of
// PBKDF2) and forgets the password. SCRAM-SHA-1 and SCRAM-SHA-256 check a
// client's proof against them; PLAIN re-derives the salted password from
// the password the client sent and compares its StoredKey, in constant
// time. Passwords are used as given (no SASLprep), which is the same for
// every ASCII password.

// scramHash is one SCRAM hash family.
type scramHash struct {
	name string // the SASL mechanism name
	new  func() hash.Hash
}

var (
	scramSHA256 = scramHash{"SCRAM-SHA-256", sha256.New}
	scramSHA1   = scramHash{"SCRAM-SHA-1", sha1.New}
)

// scramCreds are the salted credentials of one user for one hash.
type scramCreds struct {
	salt      []byte
	iter      int
	storedKey []byte
	serverKey []byte
}

// credentials are a user's salted credentials for both hashes.
type credentials struct {
	sha1, sha256 scramCreds
}

func (c *credentials) forHash(h scramHash) *scramCreds {
	if h.name == scramSHA1.name {
		return &c.sha1
	}
	return &c.sha256
}

func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

func hashSum(h func() hash.Hash, b []byte) []byte {
	x := h()
	x.Write(b)
	return x.Sum(nil)
}

// deriveCreds derives the salted credentials for a password.
func deriveCreds(h scramHash, password string, salt []byte, iter int) (scramCreds, error) {
	salted, err := pbkdf2.Key(h.new, password, salt, iter, h.new().Size())
	if err != nil {
		return scramCreds{}, err
	}
	clientKey := hmacSum(h.new, salted, []byte("Client Key"))
	return scramCreds{
		salt:      salt,
		iter:      iter,
		storedKey: hashSum(h.new, clientKey),
		serverKey: hmacSum(h.new, salted, []byte("Server Key")),
	}, nil
}

// newCredentials derives both hashes' credentials, each with its own
// random salt.
func newCredentials(password string, iter int) (*credentials, error) {
	var c credentials
	for _, x := range []struct {
		h   scramHash
		dst *scramCreds
	}{{scramSHA1, &c.sha1}, {scramSHA256, &c.sha256}} {
		salt := make([]byte, 16)
		rand.Read(salt)
		cr, err := deriveCreds(x.h, password, salt, iter)
		if err != nil {
			return nil, err
		}
		*x.dst = cr
	}
	return &c, nil
}

// checkPlain reports whether password matches c, in constant time with
// respect to the stored key.
func (c *credentials) checkPlain(password string) bool {
	cr, err := deriveCreds(scramSHA256, password, c.sha256.salt, c.sha256.iter)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(cr.storedKey, c.sha256.storedKey) == 1
}

var errSASLMalformed = errors.New("malformed SCRAM message")

// scramServer is the server side of one SCRAM exchange (RFC 5802, RFC
// 7677), without channel binding: a client that supports it but was not
// offered a -PLUS mechanism says so with the "y" flag, which is accepted;
// "p=" is refused.
type scramServer struct {
	h         scramHash
	creds     *scramCreds // for an unknown user, fake ones: the exchange fails at the proof
	known     bool
	username  string // as sent, unescaped
	authzid   string
	gs2Header string
	firstBare string
	nonce     string // client nonce + server nonce
	srvFirst  string
}

// parseClientFirst reads the client-first-message and returns the
// username and authorization identity, without checking them.
func (s *scramServer) parseClientFirst(msg string) (user, authzid string, err error) {
	// gs2-header: cbind-flag "," [authzid] ","
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return "", "", errSASLMalformed
	}
	switch {
	case flag == "n" || flag == "y":
	case strings.HasPrefix(flag, "p="):
		return "", "", errors.New("channel binding not supported")
	default:
		return "", "", errSASLMalformed
	}
	az, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", errSASLMalformed
	}
	if az != "" {
		if !strings.HasPrefix(az, "a=") {
			return "", "", errSASLMalformed
		}
		if authzid, ok = unescapeSASLName(az[2:]); !ok {
			return "", "", errSASLMalformed
		}
	}
	s.gs2Header = flag + "," + az + ","
	s.firstBare = bare
	// client-first-message-bare: [reserved-mext ","] username "," nonce ["," extensions]
	if strings.HasPrefix(bare, "m=") {
		return "", "", errors.New("mandatory SCRAM extension not supported")
	}
	parts := strings.Split(bare, ",")
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "n=") || !strings.HasPrefix(parts[1], "r=") || len(parts[1]) < 3 {
		return "", "", errSASLMalformed
	}
	if user, ok = unescapeSASLName(parts[0][2:]); !ok || user == "" {
		return "", "", errSASLMalformed
	}
	s.username = user
	s.authzid = authzid
	s.nonce = parts[1][2:] + randomString(18)
	return user, authzid, nil
}

// serverFirst returns the server-first-message, once creds are set.
func (s *scramServer) serverFirst() string {
	s.srvFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.creds.salt) +
		",i=" + strconv.Itoa(s.creds.iter)
	return s.srvFirst
}

// clientFinal checks the client-final-message and returns the
// server-final-message on success.
func (s *scramServer) clientFinal(msg string) (string, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return "", errSASLMalformed
	}
	withoutProof, proofB64 := msg[:i], msg[i+3:]
	parts := strings.Split(withoutProof, ",")
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "c=") || !strings.HasPrefix(parts[1], "r=") {
		return "", errSASLMalformed
	}
	cb, err := base64.StdEncoding.DecodeString(parts[0][2:])
	if err != nil {
		return "", errSASLMalformed
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil {
		return "", errSASLMalformed
	}
	// Channel binding data: exactly the gs2 header (no binding), and
	// the nonce: exactly ours. Neither is secret: plain compares.
	nonceOK := parts[1][2:] == s.nonce
	cbOK := bytes.Equal(cb, []byte(s.gs2Header))

	authMsg := []byte(s.firstBare + "," + s.srvFirst + "," + withoutProof)
	clientSig := hmacSum(s.h.new, s.creds.storedKey, authMsg)
	if len(proof) != len(clientSig) {
		return "", errors.New("bad proof")
	}
	clientKey := make([]byte, len(proof))
	subtle.XORBytes(clientKey, proof, clientSig)
	proofOK := subtle.ConstantTimeCompare(hashSum(s.h.new, clientKey), s.creds.storedKey) == 1
	if !proofOK || !nonceOK || !cbOK || !s.known {
		return "", errors.New("authentication failed")
	}
	serverSig := hmacSum(s.h.new, s.creds.serverKey, authMsg)
	return "v=" + base64.StdEncoding.EncodeToString(serverSig), nil
}

// unescapeSASLName decodes =2C and =3D (RFC 5802 saslname).
func unescapeSASLName(s string) (string, bool) {
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		switch s[i+1 : i+3] {
		case "2C":
			b.WriteByte(',')
		case "3D":
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// parsePlain splits a PLAIN message (RFC 4616).
func parsePlain(msg []byte) (authzid, user, pass string, ok bool) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return "", "", "", false
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), true
}

const randAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString returns n random characters of [A-Za-z0-9].
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = randAlphabet[int(b[i])%len(randAlphabet)]
	}
	return string(b)
}
