package gateway

import "testing"

func TestRedactText(t *testing.T) {
	both := RedactEmail | RedactPhone
	for _, tc := range []struct {
		in   string
		r    Redaction
		want string
	}{
		{"write to ada.lovelace+maps@example.edu please", RedactEmail, "write to [email] please"},
		{"MAIL: Ada@Sub.Example.CO.UK, or bob@x.org.", RedactEmail, "MAIL: [email], or [email]."},
		{"ünï@exämple.de", RedactEmail, "[email]"},
		{"an @ sign alone, user@localhost", RedactEmail, "an @ sign alone, user@localhost"},
		{"call +1 (919) 555-0100 today", RedactPhone, "call [phone] today"},
		{"919.555.0100 or 919-555-0101", RedactPhone, "[phone] or [phone]"},
		{"text 5550100", RedactPhone, "text [phone]"},
		{"+447700900123", RedactPhone, "[phone]"},
		{"card 4111 1111 1111 1111", RedactPhone, "card [phone]"},
		{"room 12-3456", RedactPhone, "room 12-3456"}, // six digits: not a phone number
		{"only 555-0100", RedactPhone, "only [phone]"},
		{"maps of 1850-1900, printed 2026-12-04 or 04.12.2026", RedactPhone, "maps of 1850-1900, printed 2026-12-04 or 04.12.2026"},
		{"ISBN 978-0-13-468599-1 and ISBN-13: 9780134685991", RedactPhone, "ISBN 978-0-13-468599-1 and ISBN-13: 9780134685991"},
		{"isbn:0134685997", RedactPhone, "isbn:0134685997"},
		{"call number QA76.73 and item b12345678x", RedactPhone, "call number QA76.73 and item b12345678x"},
		{"ada@example.edu 919-555-0100", RedactEmail, "[email] 919-555-0100"},
		{"ada@example.edu 919-555-0100", RedactPhone, "ada@example.edu [phone]"},
		{"ada5550100123@example.edu, 919-555-0100", both, "[email], [phone]"},
		{"nothing to hide", both, "nothing to hide"},
		{"ada@example.edu 919-555-0100", 0, "ada@example.edu 919-555-0100"},
		{"", both, ""},
	} {
		if got := RedactText(tc.in, tc.r); got != tc.want {
			t.Errorf("RedactText(%q, %d) = %q, want %q", tc.in, tc.r, got, tc.want)
		}
	}
}

func TestParseRedaction(t *testing.T) {
	r, err := ParseRedaction([]string{"phone", "email"})
	if err != nil || r != RedactEmail|RedactPhone {
		t.Errorf("ParseRedaction = %d, %v", r, err)
	}
	if r, err := ParseRedaction(nil); err != nil || r != 0 {
		t.Errorf("ParseRedaction(nil) = %d, %v", r, err)
	}
	if _, err := ParseRedaction([]string{"names"}); err == nil {
		t.Error("ParseRedaction(names): no error")
	}
}
