package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder decodes a YAML node tree into Go values strictly: every key must
// be a field of the struct it is decoded into (by its yaml tag), no key may
// be written twice, and every value must fit its field. Unlike yaml's own
// decoder it goes on after a mistake, so that it reports all of them, each
// with its line, column and key path.
type decoder struct {
	file    string
	dir     string // relative file: secrets start here
	resolve bool   // resolve secrets as they are decoded

	errs Errors

	// nodes maps every key path decoded to its value node, and keys to its
	// key node, for the validator's messages. nil when not wanted.
	nodes map[string]*yaml.Node
	keys  map[string]*yaml.Node
}

var (
	yamlUnmarshalerType   = reflect.TypeFor[yaml.Unmarshaler]()
	obsoleteUnmarshalType = reflect.TypeFor[interface{ UnmarshalYAML(func(any) error) error }]()
	textUnmarshalerType   = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType              = reflect.TypeFor[time.Time]()
	stdDurationType       = reflect.TypeFor[time.Duration]()
	accountType           = reflect.TypeFor[Account]()
)

func (d *decoder) errorAt(n *yaml.Node, path, msg, fix string) {
	e := &Error{File: d.file, Key: path, Msg: msg, Fix: fix}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	return path
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// kindName says what a node is, for messages.
func kindName(n *yaml.Node) string {
	switch deref(n).Kind {
	case yaml.MappingNode:
		return "mapping (key: value lines)"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "value"
}

// isLeaf reports whether values of type t decode themselves (or are decoded
// by yaml) rather than being walked.
func isLeaf(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(yamlUnmarshalerType) || pt.Implements(obsoleteUnmarshalType) ||
		pt.Implements(textUnmarshalerType) || t == timeType
}

// decode decodes n into v, which must be settable. owner is the jid or id
// of the mapping holding the key, for the hints of secrets.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path, owner string) {
	n = deref(n)
	if d.nodes != nil {
		d.nodes[path] = n
	}
	if isNull(n) {
		return
	}
	t := v.Type()
	if isLeaf(t) {
		d.decodeLeaf(n, v, path, owner)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), path, owner)
	case reflect.Struct:
		d.decodeStruct(n, v, path, nil)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			d.decodeLeaf(n, v, path, owner)
			return
		}
		d.decodeSlice(n, v, path, owner)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.decodeLeaf(n, v, path, owner)
			return
		}
		d.decodeMap(n, v, path)
	case reflect.Interface, reflect.Array:
		d.decodeLeaf(n, v, path, owner)
	default:
		d.decodeScalar(n, v, path)
	}
}

// decodeLeaf lets yaml decode n into v, and turns its error into one with
// a place and a key.
func (d *decoder) decodeLeaf(n *yaml.Node, v reflect.Value, path, owner string) {
	target := v.Addr().Interface()
	if err := n.Decode(target); err != nil {
		var ve *valueError
		var le *literalSecretError
		var te *yaml.TypeError
		switch {
		case errors.As(err, &le):
			d.errorAt(n, path, literalSecretMsg, secretFix(path, lastKey(path), owner))
		case errors.As(err, &ve):
			d.errorAt(n, path, ve.msg, ve.fix)
		case errors.As(err, &te):
			d.errorAt(n, path, fmt.Sprintf("%q does not fit here", n.Value), "")
		default:
			d.errorAt(n, path, strings.TrimPrefix(err.Error(), "yaml: "), "")
		}
		return
	}
	if s, ok := target.(*Secret); ok && d.resolve {
		if err := s.resolve(d.dir); err != nil {
			var ve *valueError
			if errors.As(err, &ve) {
				d.errorAt(n, path, ve.msg, ve.fix)
			} else {
				d.errorAt(n, path, err.Error(), "")
			}
		}
	}
}

// decodeScalar decodes a string, bool or number, with messages that say
// what to write.
func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	want, fix := "a single value", ""
	switch t.Kind() {
	case reflect.String:
		want = "a text value"
	case reflect.Bool:
		want, fix = "true or false", "write true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		want, fix = "a whole number", "write a whole number, like 10"
	case reflect.Float32, reflect.Float64:
		want, fix = "a number", "write a number, like 1.5"
	default:
		d.decodeLeaf(n, v, path, "")
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.errorAt(n, path, fmt.Sprintf("must be %s, not a %s", want, kindName(n)), fix)
		return
	}
	if t == stdDurationType {
		dur, err := ParseDuration(n.Value)
		if err != nil {
			ve := err.(*valueError)
			d.errorAt(n, path, ve.msg, ve.fix)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	tag := n.ShortTag()
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if tag != "!!int" {
			d.errorAt(n, path, fmt.Sprintf("%q is not %s", n.Value, want), fix)
			return
		}
	case reflect.Float32, reflect.Float64:
		if tag != "!!int" && tag != "!!float" {
			d.errorAt(n, path, fmt.Sprintf("%q is not %s", n.Value, want), fix)
			return
		}
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		msg := fmt.Sprintf("%q is not %s", n.Value, want)
		if t.Kind() != reflect.Bool && (tag == "!!int" || tag == "!!float") {
			msg = fmt.Sprintf("%s is out of range for this key", n.Value)
		}
		d.errorAt(n, path, msg, fix)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path, owner string) {
	if n.Kind != yaml.SequenceNode {
		fix := "write a list: [a, b] or one \"- item\" line per item"
		if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
			fix = fmt.Sprintf("write a list, like [%s]", n.Value)
		}
		d.errorAt(n, path, "must be a list, not a "+kindName(n), fix)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), owner)
	}
	v.Set(s)
}

// pair is one key and its value in a mapping.
type pair struct {
	key, value *yaml.Node
}

// pairs returns the key/value pairs of mapping n, with the keys merged in
// by "<<" (explicit keys win, then earlier merges), and reports keys that
// are written twice.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var explicit, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorAt(k, path, "a key must be a single word, not a "+kindName(k), "write key: value")
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(val, path)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorAt(k, joinKey(path, k.Value),
				fmt.Sprintf("%q is written twice (first on line %d)", k.Value, first.Line),
				"keep one of them")
			continue
		}
		seen[k.Value] = k
		explicit = append(explicit, pair{k, val})
	}
	for _, p := range merged {
		if _, dup := seen[p.key.Value]; dup {
			continue
		}
		seen[p.key.Value] = p.key
		explicit = append(explicit, p)
	}
	return explicit
}

func (d *decoder) mergePairs(val *yaml.Node, path string) []pair {
	val = deref(val)
	switch val.Kind {
	case yaml.MappingNode:
		return d.pairs(val, path)
	case yaml.SequenceNode:
		var out []pair
		for _, m := range val.Content {
			out = append(out, d.mergePairs(m, path)...)
		}
		return out
	}
	d.errorAt(val, path, "<< must name a mapping, like <<: *defaults", "")
	return nil
}

// field is one key of a struct.
type field struct {
	name  string
	index []int
}

// fieldsOf returns the keys of struct type t, by their yaml tags; fields
// without a tag use their lower-cased name, as yaml does, and ",inline"
// structs add their own keys.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := strings.Contains(","+opts+",", ",inline,")
		if inline && f.Type.Kind() == reflect.Struct {
			for _, sub := range fieldsOf(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, field{name: name, index: []int{i}})
	}
	return out
}

// ownerOf returns the jid or id written in mapping n, if any, else its
// library (an entry of http.library_tokens).
func ownerOf(n *yaml.Node) string {
	var id, library string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), deref(n.Content[i+1])
		if val.Kind != yaml.ScalarNode {
			continue
		}
		switch k.Value {
		case "jid":
			return val.Value
		case "id":
			id = val.Value
		case "library":
			library = val.Value
		}
	}
	if id == "" {
		return library
	}
	return id
}

// decodeStruct decodes mapping n into struct v. Keys in skip are allowed and
// left alone; an Account keeps every key that is not its own for
// Account.Decode.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, skip []string) {
	if n.Kind != yaml.MappingNode {
		d.errorAt(n, path, "must be a mapping (key: value lines), not a "+kindName(n),
			"write its keys on their own lines below it, indented")
		return
	}
	t := v.Type()
	fields := fieldsOf(t)
	byName := make(map[string]field, len(fields))
	names := make([]string, 0, len(fields)+len(skip))
	for _, f := range fields {
		byName[f.name] = f
		names = append(names, f.name)
	}
	names = append(names, skip...)
	isAccount := t == accountType
	owner := ownerOf(n)
	for _, p := range d.pairs(n, path) {
		key := p.key.Value
		kpath := joinKey(path, key)
		if contains(skip, key) {
			continue
		}
		f, ok := byName[key]
		if !ok {
			if isAccount {
				continue
			}
			d.errorAt(p.key, kpath, fmt.Sprintf("unknown key %q", key), unknownKeyFix(key, names))
			continue
		}
		if d.keys != nil {
			d.keys[kpath] = p.key
		}
		d.decode(p.value, v.FieldByIndex(f.index), kpath, owner)
	}
	if isAccount {
		a := v.Addr().Interface().(*Account)
		a.node, a.file, a.dir, a.path = n, d.file, d.dir, path
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorAt(n, path, "must be a mapping (key: value lines), not a "+kindName(n),
			"write its keys on their own lines below it, indented")
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, p := range d.pairs(n, path) {
		kpath := joinKey(path, p.key.Value)
		elem := reflect.New(t.Elem()).Elem()
		d.decode(p.value, elem, kpath, "")
		v.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(t.Key()), elem)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unknownKeyFix suggests the allowed key closest to key, or lists them all.
func unknownKeyFix(key string, allowed []string) string {
	if s := suggest(key, allowed); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	sorted := append([]string(nil), allowed...)
	sort.Strings(sorted)
	return "the keys allowed here are " + strings.Join(sorted, ", ")
}

// suggest returns the option closest to word when it is close enough to be
// a typo: the same but for case, '-' or ' ' for '_', a few letters off, or
// one a prefix of the other.
func suggest(word string, options []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(s))
	}
	w := norm(word)
	limit := min(3, max(1, len([]rune(w))/3))
	best, bestDist := "", limit+1
	for _, o := range options {
		no := norm(o)
		dist := levenshtein(w, no)
		if dist > 1 && len(w) >= 3 && len(no) >= 3 && (strings.HasPrefix(w, no) || strings.HasPrefix(no, w)) {
			dist = 1 // "warning" for "warn"
		}
		if dist < bestDist {
			best, bestDist = o, dist
		}
	}
	return best
}

// levenshtein is the edit distance between a and b, counting a swap of two
// neighbouring letters as one edit.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
