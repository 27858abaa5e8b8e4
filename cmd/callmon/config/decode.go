package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a configuration file. Parse and Load return every
// problem they find, joined with errors.Join; errors.As finds the first.
type Error struct {
	File string
	Line int
	Msg  string // what is wrong
	Hint string // how to fix it; may be empty
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	if e.Hint != "" {
		s += " (hint: " + e.Hint + ")"
	}
	return s
}

// parser decodes the yaml.Node tree by hand rather than with struct tags:
// yaml.v3's KnownFields reports only the first unknown key, without a
// suggestion, and gives no line for a value that decodes but is invalid.
type parser struct {
	file  string
	lines int // in the file; 0 until document has seen it
	errs  []*Error
}

func (p *parser) fail(n *yaml.Node, hint, format string, args ...any) {
	line := 1
	if n != nil && n.Line > 0 {
		line = n.Line
	}
	line = p.inFile(line)
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// inFile keeps a line number inside the file: yaml.v3 places the empty
// document after a last "---" on the line after the end, and also counts
// Unicode line breaks (NEL, LS, PS) that editors show inside a line.
func (p *parser) inFile(line int) int {
	if p.lines > 0 && line > p.lines {
		return p.lines
	}
	return line
}

// err returns all problems sorted by line (cross-checks run after the walk,
// but a reader fixes a file top to bottom).
func (p *parser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(p.errs, func(a, b *Error) int { return a.Line - b.Line })
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data into the root mapping node, reporting syntax errors
// with their line. It returns nil when there is nothing to walk.
func (p *parser) document(data []byte) *yaml.Node {
	// Lines as an editor shows them; YAML also ends a line at a lone CR.
	p.lines = bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n")) + 1
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.fail(nil, "start from callmon.example.yml", "the file is empty")
			return nil
		}
		p.syntax(data, err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntax(data, err)
		return nil
	default:
		p.fail(&next, "remove the --- line and everything after it", "a second YAML document starts here; callmon reads one")
	}
	if len(doc.Content) == 0 {
		p.fail(&doc, "start from callmon.example.yml", "the file is empty")
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.fail(root, "start from callmon.example.yml: the file is a mapping with ari:, opening_hours:, queues: and agents:", "the file is %s, not a mapping of keys and values", describe(root))
		return nil
	}
	return root
}

func (p *parser) syntax(data []byte, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	from := 1
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		from, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	line := locateSyntaxError(data, msg, from)
	hint := "check the indentation and quoting on this line and the one before it"
	lines := strings.Split(string(data), "\n")
	switch {
	case line <= len(lines) && strings.Contains(lines[line-1], "\t"):
		hint = "indent with spaces, not tabs"
	case strings.Contains(msg, "mapping values are not allowed"):
		hint = `put each key on its own line, and quote a value that contains ": "`
	case strings.Contains(msg, "did not find expected key"), strings.Contains(msg, "did not find expected '-' indicator"):
		hint = "line this key up with the keys of the same section above it"
	case strings.Contains(msg, "unexpected end of stream"):
		hint = "a quote or bracket opened here is never closed"
	case strings.Contains(msg, "unknown anchor"):
		hint = "define the anchor with &name before using *name"
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: p.inFile(line), Msg: "invalid YAML: " + msg, Hint: hint})
}

// locateSyntaxError finds the line of a yaml.v3 syntax error by parsing ever
// longer prefixes of the file, from line from on, until the same error
// appears. yaml.v3 names no line for some errors, and for others names the
// line where the enclosing structure started or the line before the problem
// (its parser errors count lines from 0), never a later one. Quadratic, but
// configuration files are short and this runs only on failure.
func locateSyntaxError(data []byte, msg string, from int) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	for k := max(from, 1); k <= len(lines); k++ {
		var n yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n)
		if err == nil {
			continue
		}
		got := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			got = m[2]
		}
		if got == msg {
			return k
		}
	}
	return max(from, 1)
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// describe names what a node is, for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return strconv.Quote(n.Value)
	}
	return "empty"
}

// field is one known key of a mapping.
type field struct {
	name     string
	required bool
	example  string // for the hint when a required key is missing
	set      func(v *yaml.Node)
}

// sections lists the keys of every section, in file order, to tell a user
// who put a key in the wrong place where it belongs. A test keeps it in step
// with the field lists the parser uses.
var sections = []struct {
	name string
	keys []string
}{
	{"", []string{"ari", "database", "opening_hours", "queues", "agents", "supervisors", "wallboards", "employees", "voicemail", "retention", "sounds", "ui"}},
	{"ari", []string{"url", "user", "application", "outbound_endpoint", "password_file"}},
	{"database", []string{"spool_file", "migrate_on_start"}},
	{"opening_hours", []string{"timezone", "days", "open", "close", "closed_on_good_friday", "closed_on_liberation_day", "extra_closed"}},
	{"queue", []string{"name", "numbers", "threshold", "target", "short_abandon", "strategy", "callback_offer_after", "callback_offer_expected_wait", "callback_capacity", "announce_every", "announce_error_limit", "ring_timeout", "moh_class", "welcome_prompt", "closed_prompt", "auto_dial", "agents"}},
	{"agent", []string{"id", "name", "endpoint", "token_hash"}},
	{"supervisor", []string{"id", "name", "token_hash"}},
	{"wallboard", []string{"id", "name", "token_hash"}},
	{"employee", []string{"id", "name", "numbers", "endpoint", "greeting", "agent", "mailbox", "direct_ring_timeout", "token_hash"}},
	{"voicemail", []string{"mode", "context", "max_duration", "max_silence", "min_duration"}},
	{"retention", []string{"call_records", "tasks", "voicemails"}},
	{"sounds", []string{"language", "dir"}},
	{"ui", []string{"language"}},
}

func keysOf(fields []field) []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names
}

// mapping walks mapping node n, called what in messages ("" for the top
// level), calling each known field's set with its value in file order. It
// reports a node that is not a mapping, unknown keys (with a suggestion),
// duplicate keys and missing required keys. It returns false if n is not a
// mapping.
func (p *parser) mapping(n *yaml.Node, what string, fields []field) bool {
	where, subject := "in "+what, what
	if what == "" {
		where, subject = "at the top level", "the file"
	}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.fail(n, "write its keys on the lines below it, indented, as key: value", "%s: expected a mapping of keys and values, found %s", what, describe(n))
		return false
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Value == "<<" && k.Tag == "!!merge" {
			p.fail(k, "repeat the keys instead of merging", "merge keys (<<) are not supported")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.fail(k, fmt.Sprintf("it is already set on line %d; keep one", first.Line), "duplicate key %q %s", k.Value, where)
			continue
		}
		seen[k.Value] = k
		i := slices.IndexFunc(fields, func(f field) bool { return f.name == k.Value })
		if i < 0 {
			p.fail(k, p.unknownKeyHint(k.Value, what, fields), "unknown key %q %s", k.Value, where)
			continue
		}
		fields[i].set(v)
	}
	for _, f := range fields {
		if f.required && seen[f.name] == nil {
			p.fail(n, "add "+f.example, "%s is missing %q", subject, f.name)
		}
	}
	return true
}

func (p *parser) unknownKeyHint(key, what string, fields []field) string {
	if what == "ari" && strings.EqualFold(key, "password") {
		return "never put the password in this file: set the environment variable " + PasswordEnv + " or password_file"
	}
	known := keysOf(fields)
	if s := suggest(key, known); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	for _, sec := range sections {
		if sec.name == what || !slices.Contains(sec.keys, key) {
			continue
		}
		if sec.name == "" {
			return fmt.Sprintf("%q belongs at the top level, not indented", key)
		}
		return fmt.Sprintf("%q belongs in %s", key, sec.name)
	}
	return "known keys: " + strings.Join(known, ", ")
}

// suggest returns the option closest to s by edit distance, or "" when none
// is close enough to be a plausible typo.
func suggest(s string, options []string) string {
	s = strings.ToLower(s)
	best, bestD := "", len(s)+1
	for _, o := range options {
		if d := editDistance(s, o); d < bestD {
			best, bestD = o, d
		}
	}
	if bestD <= max(1, len(s)/3) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
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
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// scalar returns the text of a single value. Any scalar tag is accepted, so
// 0503164911 and 2026-12-24 need no quotes; null (key with no value) is not.
func (p *parser) scalar(key string, v *yaml.Node) (string, bool) {
	switch {
	case v.Kind != yaml.ScalarNode:
		p.fail(v, "write a single value after the colon", "%s: expected a single value, found %s", key, describe(v))
	case v.Tag == "!!null":
		p.fail(v, "write a value after the colon, or remove the line", "%s: has no value", key)
	default:
		return v.Value, true
	}
	return "", false
}

// list returns the items of a list. An empty value is an empty list, so a
// list whose every item is commented out is still valid YAML for us.
func (p *parser) list(key string, v *yaml.Node) ([]*yaml.Node, bool) {
	switch {
	case v.Kind == yaml.SequenceNode:
		items := make([]*yaml.Node, len(v.Content))
		for i, it := range v.Content {
			items[i] = resolve(it)
		}
		return items, true
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return nil, true
	case v.Kind == yaml.ScalarNode:
		p.fail(v, fmt.Sprintf("write [%s]", v.Value), "%s: expected a list, found %s", key, describe(v))
	default:
		p.fail(v, "write each item on its own line starting with \"- \"", "%s: expected a list, found %s", key, describe(v))
	}
	return nil, false
}

func (p *parser) boolean(key string, v *yaml.Node, dst *bool) {
	s, ok := p.scalar(key, v)
	if !ok {
		return
	}
	// Only YAML 1.2 booleans: yes/no/on/off are strings in YAML 1.2 and a
	// silent reinterpretation is exactly what strict decoding is against.
	if v.Tag != "!!bool" {
		p.fail(v, "write true or false", "%s: %q is not true or false", key, s)
		return
	}
	*dst = strings.EqualFold(s, "true")
}

var durationRE = regexp.MustCompile(`^([0-9]+(?:[.,][0-9]+)?)\s*([a-zµ]*)\.?$`)

var durationUnits = map[string]string{
	"": "s", "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s", "seconde": "s", "seconden": "s",
	"m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m", "minuut": "m", "minuten": "m",
	"h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h", "uur": "h", "uren": "h",
	"ms": "ms", "msec": "ms", "millisecond": "ms", "milliseconds": "ms", "milliseconde": "ms", "milliseconden": "ms",
}

// durationHint turns "30 seconds" into "write 30s".
func durationHint(s string) string {
	if m := durationRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s))); m != nil {
		if unit, ok := durationUnits[m[2]]; ok {
			return "write " + strings.Replace(m[1], ",", ".", 1) + unit
		}
	}
	return "write a Go duration such as 30s, 1m or 1m30s"
}

func (p *parser) duration(key string, v *yaml.Node, dst *time.Duration) bool {
	s, ok := p.scalar(key, v)
	if !ok {
		return false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.fail(v, durationHint(s), "%s: %q is not a duration", key, s)
		return false
	}
	*dst = d
	return true
}
