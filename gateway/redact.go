package gateway

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Redaction says what to black out of a queue's lines before they are
// stored (the config's queues[].redact). The zero value redacts nothing.
type Redaction uint8

// The redactions.
const (
	RedactEmail Redaction = 1 << iota // e-mail addresses become "[email]"
	RedactPhone                       // phone numbers become "[phone]"
)

// ParseRedaction turns the config's names ("email", "phone") into a
// Redaction.
func ParseRedaction(names []string) (Redaction, error) {
	var r Redaction
	for _, n := range names {
		switch n {
		case "email":
			r |= RedactEmail
		case "phone":
			r |= RedactPhone
		default:
			return 0, fmt.Errorf("gateway: unknown redaction %q", n)
		}
	}
	return r, nil
}

var (
	emailRE = regexp.MustCompile(`[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)*\.\p{L}{2,}`)

	// phoneRE finds candidates: seven digits or more, possibly after a
	// '+', broken by at most two of space, '.', '-', '(' and ')' between
	// two digits: +1 (919) 555-0100, 919.555.0100, 5550100.
	phoneRE = regexp.MustCompile(`\+?\(?\d(?:[ .\-()]{0,2}\d){6,}`)

	// Numbers of that shape that are not phone numbers, and that a
	// library's chats are full of: ISO and European dates, year ranges.
	notPhoneRE = regexp.MustCompile(`^(?:\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{4}|\d{4} ?- ?\d{4})$`)
	isbnRE     = regexp.MustCompile(`(?i)\bISBN(?:-?1[03])?[ :]*$`)
)

// RedactText returns s with what r names replaced: e-mail addresses by
// "[email]"; phone numbers (a run of at least seven digits, possibly
// starting with '+' and broken by spaces, dots, dashes or parentheses, not
// part of a word) by "[phone]". Dates (2026-12-04, 04.12.2026), year
// ranges (1850-1900) and numbers right after "ISBN" are left alone. Longer
// digit runs (card and barcode numbers) are redacted as phone numbers:
// redaction errs on the side of the patron.
func RedactText(s string, r Redaction) string {
	if r&RedactEmail != 0 && strings.IndexByte(s, '@') >= 0 {
		s = emailRE.ReplaceAllString(s, "[email]")
	}
	if r&RedactPhone != 0 {
		s = redactPhones(s)
	}
	return s
}

func redactPhones(s string) string {
	ms := phoneRE.FindAllStringIndex(s, -1)
	if ms == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		start, end := m[0], m[1]
		if !isPhone(s, start, end) {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString("[phone]")
		last = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// isPhone reports whether s[start:end], a match of phoneRE, is to be
// redacted: it stands on its own (no letter or digit touches it) and is
// not a date, a year range or an ISBN.
func isPhone(s string, start, end int) bool {
	if r, _ := utf8.DecodeLastRuneInString(s[:start]); start > 0 && isWordRune(r) {
		return false
	}
	if r, _ := utf8.DecodeRuneInString(s[end:]); end < len(s) && isWordRune(r) {
		return false
	}
	if notPhoneRE.MatchString(s[start:end]) {
		return false
	}
	return !isbnRE.MatchString(s[:start])
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
