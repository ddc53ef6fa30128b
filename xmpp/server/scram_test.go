package server

import (
	"crypto/tls"
	"encoding/base64"
	"testing"
)

// The example exchanges of RFC 5802 (SCRAM-SHA-1) and RFC 7677
// (SCRAM-SHA-256): user "user", password "pencil", 4096 iterations, with
// the server nonce fixed to the RFCs'.
func TestScramRFCVectors(t *testing.T) {
	for _, v := range []struct {
		h                         scramHash
		salt, clientFirst, sNonce string
		serverFirst, clientFinal  string
		serverFinal               string
	}{{
		h:           scramSHA1,
		salt:        "QSXCR+Q6sek8bf92",
		clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		sNonce:      "3rfcNHYJY1ZVvWVs7j",
		serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	}, {
		h:           scramSHA256,
		salt:        "W22ZaJ0SNY7soEsUEjb6gQ==",
		clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		sNonce:      "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	}} {
		t.Run(v.h.name, func(t *testing.T) {
			salt, _ := base64.StdEncoding.DecodeString(v.salt)
			creds, err := deriveCreds(v.h, "pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			run := func(clientFinal string) (string, error) {
				sc := &scramServer{h: v.h}
				user, authzid, err := sc.parseClientFirst(v.clientFirst)
				if err != nil || user != "user" || authzid != "" {
					t.Fatalf("client-first: %q %q %v", user, authzid, err)
				}
				sc.nonce = v.clientFirst[len("n,,n=user,r="):] + v.sNonce
				sc.creds, sc.known = &creds, true
				if got := sc.serverFirst(); got != v.serverFirst {
					t.Fatalf("server-first %q, want %q", got, v.serverFirst)
				}
				return sc.clientFinal(clientFinal)
			}
			got, err := run(v.clientFinal)
			if err != nil || got != v.serverFinal {
				t.Fatalf("server-final %q, %v; want %q", got, err, v.serverFinal)
			}
			// A wrong proof, nonce or channel binding fails.
			bad := []string{
				v.clientFinal[:len(v.clientFinal)-6] + "AAAAA=",
				"c=biws,r=other" + v.clientFinal[len("c=biws,r=other"):],
				"c=eSws," + v.clientFinal[len("c=biws,"):],
			}
			for _, b := range bad {
				if _, err := run(b); err == nil {
					t.Errorf("accepted %q", b)
				}
			}
		})
	}
}

func TestScramParse(t *testing.T) {
	for _, m := range []string{"", "n", "n,,", "n,,r=abc", "p=tls-unique,,n=user,r=abc", "x,,n=user,r=abc", "n,,m=ext,n=user,r=abc", "n,,n=us=2Xer,r=abc"} {
		sc := &scramServer{h: scramSHA256}
		if _, _, err := sc.parseClientFirst(m); err == nil {
			t.Errorf("accepted %q", m)
		}
	}
	sc := &scramServer{h: scramSHA256}
	user, authzid, err := sc.parseClientFirst("y,a=alice@localhost,n=a=3Db=2Cc,r=abc")
	if err != nil || user != "a=b,c" || authzid != "alice@localhost" {
		t.Errorf("got %q %q %v", user, authzid, err)
	}
	creds, _ := newCredentials("secret", 4096)
	if !creds.checkPlain("secret") || creds.checkPlain("Secret") || creds.checkPlain("") {
		t.Error("PLAIN check against the salted credentials")
	}
}

func TestFingerprint(t *testing.T) {
	c := tls.Certificate{Certificate: [][]byte{[]byte("abc")}}
	// SHA-256("abc"), the FIPS 180-2 example.
	const want = "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
	if got := Fingerprint(c); got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
	if Fingerprint(tls.Certificate{}) != "" {
		t.Error("no certificate, a fingerprint")
	}
}
