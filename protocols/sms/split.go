package sms

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxUnits is the longest text Twilio takes in one message: 1,600
// characters, counted as UTF-16 code units (an emoji outside the Basic
// Multilingual Plane counts two). Twilio sends such a text as several SMS
// segments that the phone joins; owlgate splits anything longer into
// several messages.
const maxUnits = 1600

// units is the length of s in UTF-16 code units.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += runeUnits(r)
	}
	return n
}

func runeUnits(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// split cuts text into parts of at most max UTF-16 code units each, on
// rune boundaries: at the last white space of a part's second half when
// there is one (the space itself dropped), else just before the limit.
// Carriage returns become plain line breaks. An empty text gives no part.
func split(text string, max int) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var parts []string
	for {
		text = strings.TrimLeftFunc(text, unicode.IsSpace)
		if text == "" {
			return parts
		}
		if units(text) <= max {
			return append(parts, strings.TrimRightFunc(text, unicode.IsSpace))
		}
		// cut is the byte offset of the first rune over the limit;
		// space, that of the last white space past the part's middle.
		cut, space, n := 0, -1, 0
		for i, r := range text {
			if n+runeUnits(r) > max {
				cut = i
				break
			}
			if unicode.IsSpace(r) && n >= max/2 {
				space = i
			}
			n += runeUnits(r)
		}
		if space >= 0 {
			cut = space
		} else if cut == 0 {
			_, cut = utf8.DecodeRuneInString(text) // max below one rune: never for maxUnits
		}
		parts = append(parts, strings.TrimRightFunc(text[:cut], unicode.IsSpace))
		text = text[cut:]
		if space >= 0 {
			_, size := utf8.DecodeRuneInString(text)
			text = text[size:]
		}
	}
}
