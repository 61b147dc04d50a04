package zones

import (
	"strconv"
	"strings"
)

// pos is where a key or value starts in a source file: 1-based line, and
// 1-based column counted in bytes (as the TOML decoder and the Go tools do).
type pos struct{ line, col int }

// positions maps key paths to where they appear in a TOML source. The TOML
// decoder keeps positions private (and one per key name, not per element of
// an array of tables), so we scan the text ourselves. Paths are the key
// pieces joined by dots, with the elements of arrays and of arrays of tables
// numbered in brackets (see index):
//
//	pools.www.endpoints[1].address   the second [[pools.www.endpoints]]
//	records.@.A[2]                   the third string in A = [...]
//
// A key's position is that of its own piece: "www" in [records.www] or in
// records.www.A = [...]. The scan runs only on text the decoder accepted,
// and covers TOML 1.1 (dotted keys, arrays and inline tables over several
// lines, comments inside them). Anything it cannot place falls back to the
// nearest enclosing key that it did place (see lookup).
type positions struct {
	keys map[string]pos // key name position
	vals map[string]pos // value position
}

// index is the path of element i of the array at path.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// parentPath strips the last piece (key or index) off path.
func parentPath(path string) (string, bool) {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i > 0 {
			return path[:i], true
		}
	}
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return "", false
	}
	return path[:i], true
}

func scanPositions(src string) *positions {
	p := &positions{keys: map[string]pos{}, vals: map[string]pos{}}
	s := &scanner{src: src, line: 1, col: 1, p: p, arrays: map[string]int{}}
	s.run()
	return p
}

// lookup returns the value position of path (or its key position when
// wantKey, or that of the closest ancestor that has one).
func (p *positions) lookup(path string, wantKey bool) pos {
	for {
		if wantKey {
			if q, ok := p.keys[path]; ok {
				return q
			}
		}
		if q, ok := p.vals[path]; ok {
			return q
		}
		if q, ok := p.keys[path]; ok {
			return q
		}
		var ok bool
		if path, ok = parentPath(path); !ok {
			return pos{}
		}
	}
}

type scanner struct {
	src       string
	i         int
	line, col int
	p         *positions
	table     string         // current table path ("" at top level)
	arrays    map[string]int // array-of-tables path → elements seen
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }
func (s *scanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.i]
}
func (s *scanner) adv() {
	if s.eof() {
		return
	}
	if s.src[s.i] == '\n' {
		s.line++
		s.col = 1
	} else {
		s.col++
	}
	s.i++
}
func (s *scanner) advN(n int) {
	for ; n > 0; n-- {
		s.adv()
	}
}
func (s *scanner) here() pos { return pos{s.line, s.col} }

func (s *scanner) skipSpace() {
	for c := s.peek(); c == ' ' || c == '\t'; c = s.peek() {
		s.adv()
	}
}

func (s *scanner) skipLine() {
	for !s.eof() && s.peek() != '\n' {
		s.adv()
	}
	s.adv()
}

// skipBlank skips whitespace, newlines and comments.
func (s *scanner) skipBlank() {
	for !s.eof() {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.adv()
		case '#':
			s.skipLine()
		default:
			return
		}
	}
}

func (s *scanner) run() {
	if strings.HasPrefix(s.src, "\uFEFF") { // a byte order mark is not a key
		s.i = len("\uFEFF")
	}
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		start := s.i
		if s.peek() == '[' {
			s.header()
		} else {
			s.keyValue(s.table)
		}
		if s.i == start { // cannot happen on valid TOML; never loop forever
			s.skipLine()
		}
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// setKey records where the key at path is written, keeping the first.
func (s *scanner) setKey(path string, at pos) {
	if _, seen := s.p.keys[path]; !seen {
		s.p.keys[path] = at
	}
}

func (s *scanner) header() {
	s.adv()
	array := false
	if s.peek() == '[' {
		array = true
		s.adv()
	}
	pieces, ok := s.keyPieces()
	s.skipLine()
	if !ok {
		return
	}
	// Number the arrays of tables on the way down: [a.b] after [[a]] is a
	// table inside the last element of a.
	path := ""
	for i, pc := range pieces {
		path = join(path, pc.name)
		last := i == len(pieces)-1
		if last && array {
			s.setKey(path, pc.at)
			s.arrays[path]++
			path = index(path, s.arrays[path]-1)
			s.p.keys[path] = pc.at
			break
		}
		if n := s.arrays[path]; n > 0 {
			path = index(path, n-1)
		}
		if last {
			s.p.keys[path] = pc.at
		} else {
			s.setKey(path, pc.at)
		}
	}
	s.table = path
}

type piece struct {
	name string
	at   pos
}

// keyPieces reads a dotted key up to '=' or ']' (not consumed).
func (s *scanner) keyPieces() ([]piece, bool) {
	var pieces []piece
	for {
		s.skipSpace()
		at := s.here()
		var k string
		switch c := s.peek(); c {
		case '"':
			k = s.basicString()
		case '\'':
			k = s.literalString()
		default:
			start := s.i
			for c := s.peek(); isBareKeyByte(c); c = s.peek() {
				s.adv()
			}
			k = s.src[start:s.i]
			if k == "" {
				return nil, false
			}
		}
		pieces = append(pieces, piece{k, at})
		s.skipSpace()
		if s.peek() != '.' {
			return pieces, true
		}
		s.adv()
	}
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' ||
		c >= 0x80 // TOML 1.1 allows some non-ASCII in bare keys; the decoder has vetted them
}

func (s *scanner) keyValue(table string) {
	pieces, ok := s.keyPieces()
	if !ok || s.peek() != '=' {
		s.skipLine()
		return
	}
	s.adv()
	s.skipSpace()
	path := table
	for i, pc := range pieces {
		path = join(path, pc.name)
		if i == len(pieces)-1 {
			s.p.keys[path] = pc.at
		} else {
			s.setKey(path, pc.at)
		}
	}
	s.value(path)
	s.skipSpace()
	if s.peek() == '#' {
		s.skipLine()
	}
}

// value records the position of the value at path and of its elements.
func (s *scanner) value(path string) {
	s.p.vals[path] = s.here()
	switch s.peek() {
	case '"':
		s.basicString()
	case '\'':
		s.literalString()
	case '[':
		s.adv()
		for n := 0; ; n++ {
			s.skipBlank()
			if s.eof() {
				return
			}
			if s.peek() == ']' {
				s.adv()
				return
			}
			start := s.i
			s.value(index(path, n))
			s.skipBlank()
			if s.peek() == ',' {
				s.adv()
			} else if s.i == start {
				s.adv()
			}
		}
	case '{':
		s.adv()
		for {
			s.skipBlank()
			if s.eof() {
				return
			}
			switch s.peek() {
			case '}':
				s.adv()
				return
			case ',':
				s.adv()
				continue
			}
			start := s.i
			s.keyValue(path)
			if s.i == start {
				s.adv()
			}
		}
	default:
		for c := s.peek(); c != 0 && c != ',' && c != ']' && c != '}' && c != '\n' && c != '#'; c = s.peek() {
			s.adv()
		}
	}
}

// basicString reads a "basic" or """multi-line""" string and returns its
// value with escapes decoded, so that quoted keys match the decoder's.
func (s *scanner) basicString() string {
	multi := strings.HasPrefix(s.src[s.i:], `"""`)
	if multi {
		s.advN(3)
	} else {
		s.adv()
	}
	var b strings.Builder
	for !s.eof() {
		c := s.peek()
		if multi && strings.HasPrefix(s.src[s.i:], `"""`) {
			// Up to two quotes may end the content: """a""""" is `a""`.
			n := 3
			for n < 5 && s.i+n < len(s.src) && s.src[s.i+n] == '"' {
				n++
			}
			b.WriteString(strings.Repeat(`"`, n-3))
			s.advN(n)
			return b.String()
		}
		if !multi && (c == '"' || c == '\n') {
			s.adv()
			return b.String()
		}
		if c != '\\' {
			b.WriteByte(c)
			s.adv()
			continue
		}
		s.adv()
		e := s.peek()
		s.adv()
		switch e {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if s.i+n > len(s.src) {
				continue
			}
			r, err := strconv.ParseUint(s.src[s.i:s.i+n], 16, 32)
			s.advN(n)
			if err == nil {
				b.WriteRune(rune(r))
			}
		case ' ', '\t', '\r', '\n':
			// A line-ending backslash trims the following whitespace.
			s.skipBlankOnly()
		default:
			b.WriteByte(e)
		}
	}
	return b.String()
}

// skipBlankOnly skips whitespace and newlines (not comments: inside a string).
func (s *scanner) skipBlankOnly() {
	for c := s.peek(); c == ' ' || c == '\t' || c == '\r' || c == '\n'; c = s.peek() {
		s.adv()
	}
}

func (s *scanner) literalString() string {
	if strings.HasPrefix(s.src[s.i:], `'''`) {
		s.advN(3)
		start := s.i
		for !s.eof() && !strings.HasPrefix(s.src[s.i:], `'''`) {
			s.adv()
		}
		end := s.i
		n := 3
		for n < 5 && s.i+n < len(s.src) && s.src[s.i+n] == '\'' {
			n++
		}
		s.advN(n)
		return s.src[start:end] + strings.Repeat("'", n-3)
	}
	s.adv()
	start := s.i
	for !s.eof() && s.peek() != '\'' && s.peek() != '\n' {
		s.adv()
	}
	v := s.src[start:s.i]
	s.adv()
	return v
}
