package xmpp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"mellium.im/xmpp/jid"
)

// NSXML is the namespace of xml:lang.
const NSXML = "http://www.w3.org/XML/1998/namespace"

// ErrNotStanza is returned by ParseStanza for an element that is not a
// message, presence or iq.
var ErrNotStanza = errors.New("xmpp: not a stanza")

// ParseStanza reads one stanza from d, whose start element start was just
// read, up to and including its end element. Attributes that are not JIDs
// where JIDs belong are errors; unknown children are kept in Payload. The
// caller sets From in server mode, whatever the stanza said.
func ParseStanza(d *xml.Decoder, start xml.StartElement) (*Stanza, error) {
	s := &Stanza{}
	switch start.Name.Local {
	case "message":
		s.Kind = KindMessage
	case "presence":
		s.Kind = KindPresence
	case "iq":
		s.Kind = KindIQ
	default:
		return nil, fmt.Errorf("%w: <%s>", ErrNotStanza, start.Name.Local)
	}
	for _, a := range start.Attr {
		var err error
		switch {
		case a.Name.Local == "from" && a.Name.Space == "":
			s.From, err = jid.Parse(a.Value)
		case a.Name.Local == "to" && a.Name.Space == "":
			s.To, err = jid.Parse(a.Value)
		case a.Name.Local == "id" && a.Name.Space == "":
			s.ID = a.Value
		case a.Name.Local == "type" && a.Name.Space == "":
			s.Type = a.Value
		case a.Name.Local == "lang" && a.Name.Space == NSXML:
			s.Lang = a.Value
		}
		if err != nil {
			return nil, fmt.Errorf("xmpp: %s attribute %q: %w", a.Name.Local, a.Value, err)
		}
	}
	var payload bytes.Buffer
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("xmpp: reading <%s>: %w", start.Name.Local, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if len(payload.Bytes()) > 0 {
				s.Payload = payload.Bytes()
			}
			return s, nil
		case xml.StartElement:
			if err := s.child(d, t, start.Name.Space, &payload); err != nil {
				return nil, err
			}
		}
	}
}

// child reads one child element of the stanza into its field, or into
// payload when owlgate does not know it.
func (s *Stanza) child(d *xml.Decoder, el xml.StartElement, stanzaNS string, payload *bytes.Buffer) error {
	plain := el.Name.Space == stanzaNS || el.Name.Space == ""
	text := func() (string, error) {
		var t string
		err := d.DecodeElement(&t, &el)
		return t, err
	}
	var err error
	switch {
	case plain && el.Name.Local == "body" && s.Kind == KindMessage:
		s.Body, err = text()
	case plain && el.Name.Local == "subject" && s.Kind == KindMessage:
		s.Subject, err = text()
	case plain && el.Name.Local == "thread" && s.Kind == KindMessage:
		s.Thread, err = text()
	case plain && el.Name.Local == "show" && s.Kind == KindPresence:
		s.PresenceShow, err = text()
	case plain && el.Name.Local == "status" && s.Kind == KindPresence:
		s.Status, err = text()
	case plain && el.Name.Local == "priority" && s.Kind == KindPresence:
		var p string
		if p, err = text(); err == nil {
			s.Priority, _ = strconv.Atoi(strings.TrimSpace(p))
		}
	case plain && el.Name.Local == "error":
		err = s.parseError(d, el)
	case el.Name.Space == NSChatStates && s.Kind == KindMessage:
		s.ChatState = el.Name.Local
		err = d.Skip()
	case el.Name.Space == NSReceipts && el.Name.Local == "request":
		s.ReceiptReq = true
		err = d.Skip()
	case el.Name.Space == NSReceipts && el.Name.Local == "received":
		s.ReceiptFor = attr(el, "id")
		err = d.Skip()
	case el.Name.Space == NSNick && el.Name.Local == "nick":
		s.Nick, err = text()
	case el.Name.Space == NSDelay && el.Name.Local == "delay":
		s.Delay = attr(el, "stamp")
		err = d.Skip()
	case el.Name.Space == NSOOB && el.Name.Local == "x":
		var x struct {
			URL string `xml:"url"`
		}
		if err = d.DecodeElement(&x, &el); err == nil && x.URL != "" {
			s.OOBURLs = append(s.OOBURLs, x.URL)
		}
	default:
		err = copyElement(d, el, stanzaNS, payload)
	}
	if err != nil {
		return fmt.Errorf("xmpp: reading <%s>: %w", el.Name.Local, err)
	}
	return nil
}

func (s *Stanza) parseError(d *xml.Decoder, el xml.StartElement) error {
	s.ErrorType = attr(el, "type")
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Space == NSStanzas && t.Name.Local == "text" {
				if err := d.DecodeElement(&s.ErrorText, &t); err != nil {
					return err
				}
				continue
			}
			if t.Name.Space == NSStanzas && s.ErrorCond == "" {
				s.ErrorCond = t.Name.Local
			}
			if err := d.Skip(); err != nil {
				return err
			}
		}
	}
}

func attr(el xml.StartElement, local string) string {
	for _, a := range el.Attr {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// copyElement writes el and everything in it to w as XML, declaring its
// namespace when it differs from the parent's.
func copyElement(d *xml.Decoder, el xml.StartElement, parentNS string, w *bytes.Buffer) error {
	writeStart(w, el, parentNS)
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := copyElement(d, t, el.Name.Space, w); err != nil {
				return err
			}
		case xml.CharData:
			xml.EscapeText(w, t)
		case xml.EndElement:
			w.WriteString("</")
			w.WriteString(el.Name.Local)
			w.WriteByte('>')
			return nil
		}
	}
}

func writeStart(w *bytes.Buffer, el xml.StartElement, parentNS string) {
	w.WriteByte('<')
	w.WriteString(el.Name.Local)
	if el.Name.Space != parentNS {
		writeAttr(w, "xmlns", el.Name.Space)
	}
	for _, a := range el.Attr {
		switch {
		case a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns"):
			// Namespace declarations: written from the resolved names.
		case a.Name.Space == NSXML:
			writeAttr(w, "xml:"+a.Name.Local, a.Value)
		case a.Name.Space == "":
			writeAttr(w, a.Name.Local, a.Value)
		}
		// Attributes in other namespaces are dropped: no extension owlgate
		// relays uses them.
	}
	w.WriteByte('>')
}

func writeAttr(w *bytes.Buffer, name, value string) {
	w.WriteByte(' ')
	w.WriteString(name)
	w.WriteString(`="`)
	xml.EscapeText(w, []byte(value))
	w.WriteByte('"')
}

// WriteTo writes the stanza as XML in the stream's default namespace.
func (s *Stanza) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	s.AppendXML(&b)
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

// AppendXML writes the stanza as XML to b.
func (s *Stanza) AppendXML(b *bytes.Buffer) {
	b.WriteByte('<')
	b.WriteString(s.Kind.String())
	if !s.From.Equal(jid.JID{}) {
		writeAttr(b, "from", s.From.String())
	}
	if !s.To.Equal(jid.JID{}) {
		writeAttr(b, "to", s.To.String())
	}
	if s.ID != "" {
		writeAttr(b, "id", s.ID)
	}
	if s.Type != "" {
		writeAttr(b, "type", s.Type)
	}
	if s.Lang != "" {
		writeAttr(b, "xml:lang", s.Lang)
	}
	b.WriteByte('>')
	textEl := func(name, ns, v string) {
		if v == "" {
			return
		}
		b.WriteByte('<')
		b.WriteString(name)
		if ns != "" {
			writeAttr(b, "xmlns", ns)
		}
		b.WriteByte('>')
		xml.EscapeText(b, []byte(v))
		b.WriteString("</")
		b.WriteString(name)
		b.WriteByte('>')
	}
	textEl("show", "", s.PresenceShow)
	textEl("status", "", s.Status)
	if s.Priority != 0 {
		textEl("priority", "", strconv.Itoa(s.Priority))
	}
	textEl("subject", "", s.Subject)
	textEl("body", "", s.Body)
	textEl("thread", "", s.Thread)
	textEl("nick", NSNick, s.Nick)
	if s.ChatState != "" {
		b.WriteString(`<` + s.ChatState + ` xmlns="` + NSChatStates + `"/>`)
	}
	if s.ReceiptReq {
		b.WriteString(`<request xmlns="` + NSReceipts + `"/>`)
	}
	if s.ReceiptFor != "" {
		b.WriteString(`<received xmlns="` + NSReceipts + `"`)
		writeAttr(b, "id", s.ReceiptFor)
		b.WriteString(`/>`)
	}
	for _, u := range s.OOBURLs {
		b.WriteString(`<x xmlns="` + NSOOB + `">`)
		textEl("url", "", u)
		b.WriteString(`</x>`)
	}
	if s.Delay != "" {
		b.WriteString(`<delay xmlns="` + NSDelay + `"`)
		writeAttr(b, "stamp", s.Delay)
		b.WriteString(`/>`)
	}
	b.Write(s.Payload)
	if s.ErrorType != "" || s.ErrorCond != "" {
		typ := s.ErrorType
		if typ == "" {
			typ = "cancel"
		}
		cond := s.ErrorCond
		if cond == "" {
			cond = "undefined-condition"
		}
		b.WriteString(`<error`)
		writeAttr(b, "type", typ)
		b.WriteString(`><` + cond + ` xmlns="` + NSStanzas + `"/>`)
		if s.ErrorText != "" {
			b.WriteString(`<text xmlns="` + NSStanzas + `">`)
			xml.EscapeText(b, []byte(s.ErrorText))
			b.WriteString(`</text>`)
		}
		b.WriteString(`</error>`)
	}
	b.WriteString("</")
	b.WriteString(s.Kind.String())
	b.WriteByte('>')
}

// ErrorReply returns the error stanza answering s (RFC 6120 8.3): to its
// sender, from its recipient, same id, type error.
func ErrorReply(s *Stanza, typ, cond, text string) *Stanza {
	return &Stanza{Kind: s.Kind, From: s.To, To: s.From, ID: s.ID, Type: "error",
		ErrorType: typ, ErrorCond: cond, ErrorText: text}
}
