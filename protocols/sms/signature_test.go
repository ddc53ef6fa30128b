package sms

import (
	"net/url"
	"testing"
)

// The example of Twilio's "Webhooks security" documentation
// (twilio.com/docs/usage/webhooks/webhooks-security): auth token 12345,
// this URL and these POST parameters. Its older edition, and the test of
// twilio-go's RequestValidator, use the caller +14158675309.
const (
	docToken = "12345"
	docURL   = "https://mycompany.com/myapp.php?foo=1&bar=2"
)

func docParams(caller string) url.Values {
	return url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {caller},
		"Digits":  {"1234"},
		"From":    {caller},
		"To":      {"+18005551212"},
	}
}

func TestSignatureDocumentedExamples(t *testing.T) {
	tests := []struct {
		caller string
		want   string
	}{
		{"+12349013030", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}, // the current page
		{"+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="}, // the older page, twilio-go's test
	}
	for _, tt := range tests {
		if got := Signature(docToken, docURL, docParams(tt.caller)); got != tt.want {
			t.Errorf("Signature(caller %s) = %q, want Twilio's %q", tt.caller, got, tt.want)
		}
		if !validSignature(docToken, tt.want, docURL, docParams(tt.caller)) {
			t.Errorf("Twilio's signature %q is refused", tt.want)
		}
	}
}

// TestSignatureChecks: what validSignature refuses, and the port variants
// Twilio's own libraries accept (values from twilio-go's tests).
func TestSignatureChecks(t *testing.T) {
	p := docParams("+14158675309")
	const sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
	tests := []struct {
		name   string
		token  string
		sig    string
		url    string
		params url.Values
		want   bool
	}{
		{"documented", docToken, sig, docURL, p, true},
		{"no signature", docToken, "", docURL, p, false},
		{"another token", "54321", sig, docURL, p, false},
		{"another URL", docToken, sig, "https://mycompany.com/myapp.php?foo=1&bar=3", p, false},
		{"a parameter changed", docToken, sig, docURL, url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"},
			"Digits": {"9999"}, "From": {"+14158675309"}, "To": {"+18005551212"}}, false},
		{"a parameter added", docToken, sig, docURL, url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"},
			"Digits": {"1234"}, "From": {"+14158675309"}, "To": {"+18005551212"}, "Body": {"hi"}}, false},
		{"signed without the port, called with one", docToken, sig, "https://mycompany.com:1234/myapp.php?foo=1&bar=2", p, true},
		{"signed with :443, called without", docToken, "kvajT1Ptam85bY51eRf/AJRuM3w=", docURL, p, true},
		{"http signed with :80, called without", docToken, "0ZXoZLH/DfblKGATFgpif+LLRf4=", "http://mycompany.com/myapp.php?foo=1&bar=2", p, true},
		{"http signed with its port", docToken, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", "http://mycompany.com:1234/myapp.php?foo=1&bar=2", p, true},
	}
	for _, tt := range tests {
		if got := validSignature(tt.token, tt.sig, tt.url, tt.params); got != tt.want {
			t.Errorf("%s: valid = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestSignatureRepeatedParameter: a name's values are signed sorted, so
// their order in the body does not matter.
func TestSignatureRepeatedParameter(t *testing.T) {
	a := Signature(docToken, docURL, url.Values{"X": {"b", "a"}, "A": {"1"}})
	b := Signature(docToken, docURL, url.Values{"A": {"1"}, "X": {"a", "b"}})
	if a != b {
		t.Errorf("signatures differ with the order of a repeated parameter's values: %q %q", a, b)
	}
	if Signature(docToken, docURL, url.Values{"X": {"a"}}) == a {
		t.Error("a dropped value does not change the signature")
	}
}
