package irc

import (
	"strings"
	"unicode/utf8"
)

// IRC formatting codes (https://modern.ircdocs.horse/formatting).
const (
	fmtBold          = 0x02
	fmtColour        = 0x03
	fmtHexColour     = 0x04
	fmtReset         = 0x0f
	fmtMonospace     = 0x11
	fmtReverse       = 0x16
	fmtItalic        = 0x1d
	fmtStrikethrough = 0x1e
	fmtUnderline     = 0x1f
	ctcpDelim        = 0x01
)

// stripFormatting removes IRC formatting from s: bold, italics, underline,
// strikethrough, monospace, reverse, reset, colours with their numbers
// (\x03fg[,bg], one or two digits each) and hex colours (\x04RRGGBB[,RRGGBB]).
// Other control characters but tab go too, and invalid UTF-8 becomes U+FFFD.
func stripFormatting(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 && s[i] != '\t' || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == fmtColour:
			i++
			i = skipColour(s, i, isDigit, 1, 2)
		case c == fmtHexColour:
			i++
			i = skipColour(s, i, isHex, 6, 6)
		case c < 0x20 && c != '\t' || c == 0x7f:
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// skipColour skips the foreground[,background] after a colour code at s[i:],
// each of minN to maxN characters for which ok holds, and returns the index
// after them. A comma not followed by a background is left in the text.
func skipColour(s string, i int, ok func(byte) bool, minN, maxN int) int {
	n := span(s, i, ok, maxN)
	if n < minN {
		return i
	}
	i += n
	if i < len(s) && s[i] == ',' {
		if m := span(s, i+1, ok, maxN); m >= minN {
			i += 1 + m
		}
	}
	return i
}

func span(s string, i int, ok func(byte) bool, maxN int) int {
	n := 0
	for n < maxN && i+n < len(s) && ok(s[i+n]) {
		n++
	}
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// parseCTCP splits a CTCP message (\x01COMMAND args\x01, the closing \x01
// optional) into its upper-case command and its arguments. ok is false
// when text is not CTCP.
func parseCTCP(text string) (cmd, args string, ok bool) {
	if len(text) < 2 || text[0] != ctcpDelim {
		return "", "", false
	}
	body := text[1:]
	if i := strings.IndexByte(body, ctcpDelim); i >= 0 {
		body = body[:i]
	}
	cmd, args, _ = strings.Cut(body, " ")
	return strings.ToUpper(cmd), args, cmd != ""
}

// outboundLines turns an operator's text into the lines to send: one per
// line of the text, without control characters, empty lines dropped, each
// split to at most limit bytes.
func outboundLines(text string, limit int) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimRight(stripControls(line), " \t")
		if strings.TrimSpace(line) == "" {
			continue
		}
		out = append(out, splitLine(line, limit)...)
	}
	return out
}

// stripControls drops control characters but tab (so also any IRC
// formatting) and makes s valid UTF-8.
func stripControls(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.ToValidUTF8(s, "\uFFFD")
}

// splitLine cuts s, valid UTF-8, into pieces of at most limit bytes (limit is
// at least utf8.UTFMax). It cuts at a space when there is one in the second
// half of a piece (dropping that space), else at the last rune boundary, so
// a piece is always valid UTF-8.
func splitLine(s string, limit int) []string {
	limit = max(limit, utf8.UTFMax)
	var parts []string
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if s[cut] == ' ' {
			parts = append(parts, s[:cut])
			s = s[cut+1:]
			continue
		}
		if sp := strings.LastIndexByte(s[:cut], ' '); sp > limit/2 {
			parts = append(parts, s[:sp])
			s = s[sp+1:]
			continue
		}
		parts = append(parts, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		parts = append(parts, s)
	}
	return parts
}

// casemapping folds nicks and channel names for comparison, as the server's
// CASEMAPPING says: "ascii" folds A-Z; "rfc1459" (the default) also folds
// []\~ to {}|^, and "rfc1459-strict" []\ to {}|.
type casemapping uint8

const (
	caseRFC1459 casemapping = iota
	caseASCII
	caseRFC1459Strict
)

func parseCasemapping(s string) casemapping {
	switch strings.ToLower(s) {
	case "ascii":
		return caseASCII
	case "rfc1459-strict", "strict-rfc1459":
		return caseRFC1459Strict
	}
	return caseRFC1459
}

func (m casemapping) fold(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case m == caseASCII:
		case c == '[':
			b[i] = '{'
		case c == ']':
			b[i] = '}'
		case c == '\\':
			b[i] = '|'
		case c == '~' && m == caseRFC1459:
			b[i] = '^'
		}
	}
	return string(b)
}

// addressedTo returns the text of a channel line addressed to one of nicks
// ("Nick: text", "Nick, text"), without the address, and whether it was.
func addressedTo(text string, cm casemapping, nicks ...string) (string, bool) {
	for _, n := range nicks {
		if n == "" || len(text) <= len(n) {
			continue
		}
		if cm.fold(text[:len(n)]) != cm.fold(n) {
			continue
		}
		if rest := text[len(n):]; rest[0] == ':' || rest[0] == ',' {
			rest = strings.TrimSpace(rest[1:])
			if rest != "" {
				return rest, true
			}
		}
	}
	return "", false
}
