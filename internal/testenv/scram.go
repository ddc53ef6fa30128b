package testenv

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// The SASL namespace (RFC 6120).
const nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"

// scramMechanism is one SCRAM variant (RFC 5802, RFC 7677).
type scramMechanism struct {
	name string
	hash func() hash.Hash
}

// The SCRAM variants the test client can use, best first. No -PLUS
// variants: channel binding is not what these tests are about.
var scramMechanisms = []scramMechanism{
	{"SCRAM-SHA-256", sha256.New},
	{"SCRAM-SHA-1", sha1.New},
}

// pickSCRAM returns the best SCRAM variant among the offered mechanisms.
func pickSCRAM(offered []string) *scramMechanism {
	for i := range scramMechanisms {
		for _, o := range offered {
			if o == scramMechanisms[i].name {
				return &scramMechanisms[i]
			}
		}
	}
	return nil
}

// scramLogin runs SCRAM (RFC 5802) over an XMPP stream whose features were
// just read: it writes to w, reads from d.
func scramLogin(w io.Writer, d *xml.Decoder, m *scramMechanism, username, password string) error {
	nonceBytes := make([]byte, 18)
	if _, err := rand.Read(nonceBytes); err != nil {
		return err
	}
	cnonce := base64.RawStdEncoding.EncodeToString(nonceBytes)
	user := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(username)
	clientFirstBare := "n=" + user + ",r=" + cnonce

	send := func(local, attrs string, payload []byte) error {
		data := base64.StdEncoding.EncodeToString(payload)
		if data == "" {
			data = "="
		}
		_, err := fmt.Fprintf(w, "<%s xmlns='%s'%s>%s</%s>", local, nsSASL, attrs, data, local)
		return err
	}
	// recv returns the next SASL element's name and decoded payload.
	recv := func() (string, []byte, error) {
		for {
			tok, err := d.Token()
			if err != nil {
				return "", nil, err
			}
			start, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			var el struct {
				Data      string `xml:",chardata"`
				Condition struct {
					XMLName xml.Name
				} `xml:",any"`
				Text string `xml:"text"`
			}
			if err := d.DecodeElement(&el, &start); err != nil {
				return "", nil, err
			}
			if start.Name.Local == "failure" {
				return "", nil, fmt.Errorf("testenv: SASL %s failed: %s %s", m.name, el.Condition.XMLName.Local, el.Text)
			}
			data := strings.TrimSpace(el.Data)
			if data == "=" {
				data = ""
			}
			payload, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				return "", nil, fmt.Errorf("testenv: SASL <%s>: %w", start.Name.Local, err)
			}
			return start.Name.Local, payload, nil
		}
	}

	if err := send("auth", " mechanism='"+m.name+"'", []byte("n,,"+clientFirstBare)); err != nil {
		return err
	}
	kind, serverFirst, err := recv()
	if err != nil {
		return err
	}
	if kind != "challenge" {
		return fmt.Errorf("testenv: SASL: expected a challenge, got <%s>", kind)
	}
	attrs := scramAttrs(string(serverFirst))
	nonce, saltB64, iterS := attrs["r"], attrs["s"], attrs["i"]
	if !strings.HasPrefix(nonce, cnonce) || len(nonce) == len(cnonce) {
		return errors.New("testenv: SCRAM: the server's nonce does not extend ours")
	}
	salt, err := base64.StdEncoding.DecodeString(saltB64)
	if err != nil {
		return fmt.Errorf("testenv: SCRAM salt: %w", err)
	}
	iter, err := strconv.Atoi(iterS)
	if err != nil || iter < 1 {
		return fmt.Errorf("testenv: SCRAM iteration count %q", iterS)
	}
	salted, err := pbkdf2.Key(m.hash, password, salt, iter, m.hash().Size())
	if err != nil {
		return err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(m.hash, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	h := m.hash()
	h.Write(clientKey)
	storedKey := h.Sum(nil)
	finalNoProof := "c=biws,r=" + nonce
	authMessage := clientFirstBare + "," + string(serverFirst) + "," + finalNoProof
	sig := mac(storedKey, authMessage)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	serverSig := mac(mac(salted, "Server Key"), authMessage)
	if err := send("response", "", []byte(finalNoProof+",p="+base64.StdEncoding.EncodeToString(proof))); err != nil {
		return err
	}
	kind, serverFinal, err := recv()
	if err != nil {
		return err
	}
	if kind == "challenge" { // server-final in a challenge, then an empty success
		if err := send("response", "", nil); err != nil {
			return err
		}
		if kind, _, err = recv(); err != nil {
			return err
		}
	}
	if kind != "success" {
		return fmt.Errorf("testenv: SASL: expected success, got <%s>", kind)
	}
	v, err := base64.StdEncoding.DecodeString(scramAttrs(string(serverFinal))["v"])
	if err != nil || subtle.ConstantTimeCompare(v, serverSig) != 1 {
		return errors.New("testenv: SCRAM: the server's signature does not verify")
	}
	return nil
}

// scramAttrs splits "a=1,b=2" into its attributes.
func scramAttrs(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}
