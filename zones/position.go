package zones

import (
	"strconv"
	"strings"
)

// pos is where a key or value starts in a source file (1-based).
type pos struct{ line, col int }

// positions maps key paths to where they appear in a TOML source. The TOML
// decoder keeps positions private (and one per key name, not per element of
// an array of tables), so we scan the text ourselves. Paths use the key
// pieces joined by dots, with array-of-tables and array elements numbered:
//
//	pools.www.endpoints.1.address   the second [[pools.www.endpoints]]
//	records.@.A.2                   the third string in A = [...]
//
// The scan covers the forms zone files use (table headers, key = value,
// dotted keys, multi-line arrays). Anything it cannot place falls back to the
// nearest enclosing key that it did place (see lookup).
type positions struct {
	keys map[string]pos // key name position
	vals map[string]pos // value position
}

func scanPositions(src string) *positions {
	p := &positions{keys: map[string]pos{}, vals: map[string]pos{}}
	s := &scanner{src: src, line: 1, col: 1, p: p, arrays: map[string]int{}}
	s.run()
	return p
}

// lookup returns the value position of path (or its key position, or that
// of the closest ancestor that has one).
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
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return pos{}
		}
		path = path[:i]
	}
}

type scanner struct {
	src       string
	i         int
	line, col int
	p         *positions
	table     string         // current table path ("" at top level)
	arrays    map[string]int // array-of-tables path → elements seen
	tableKeys []string       // raw pieces of the current header, for resolving
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
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		switch s.peek() {
		case '[':
			s.header()
		default:
			s.keyValue(s.table)
		}
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// resolve numbers array-of-tables components of a header path.
func (s *scanner) resolve(pieces []string) string {
	path := ""
	for _, k := range pieces {
		path = join(path, k)
		if n, ok := s.arrays[path]; ok && n > 0 {
			path = join(path, strconv.Itoa(n-1))
		}
	}
	return path
}

func (s *scanner) header() {
	at := s.here()
	s.adv()
	array := false
	if s.peek() == '[' {
		array = true
		s.adv()
	}
	pieces, ok := s.keyPieces()
	if !ok {
		s.skipLine()
		return
	}
	s.skipLine()
	if array {
		parent := s.resolve(pieces[:len(pieces)-1])
		raw := join(parent, pieces[len(pieces)-1])
		s.arrays[raw]++
		s.table = join(raw, strconv.Itoa(s.arrays[raw]-1))
		if _, seen := s.p.keys[raw]; !seen {
			s.p.keys[raw] = at
		}
	} else {
		s.table = s.resolve(pieces)
	}
	s.p.keys[s.table] = at
}

// keyPieces reads a dotted key up to '=' or ']' (not consumed).
func (s *scanner) keyPieces() ([]string, bool) {
	var pieces []string
	for {
		s.skipSpace()
		var k string
		switch c := s.peek(); c {
		case '"':
			k = s.basicString()
		case '\'':
			k = s.literalString()
		default:
			start := s.i
			for c := s.peek(); c != 0 && c != '.' && c != '=' && c != ']' && c != ' ' && c != '\t' && c != '\n' && c != '#'; c = s.peek() {
				s.adv()
			}
			k = s.src[start:s.i]
			if k == "" {
				return nil, false
			}
		}
		pieces = append(pieces, k)
		s.skipSpace()
		if s.peek() != '.' {
			return pieces, true
		}
		s.adv()
	}
}

func (s *scanner) keyValue(table string) {
	at := s.here()
	pieces, ok := s.keyPieces()
	if !ok || s.peek() != '=' {
		s.skipLine()
		return
	}
	s.adv()
	s.skipSpace()
	path := table
	for _, k := range pieces {
		path = join(path, k)
	}
	s.p.keys[path] = at
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
			s.value(join(path, strconv.Itoa(n)))
			s.skipBlank()
			if s.peek() == ',' {
				s.adv()
			}
		}
	case '{':
		s.adv()
		for {
			s.skipSpace()
			if s.eof() || s.peek() == '\n' {
				return
			}
			if s.peek() == '}' {
				s.adv()
				return
			}
			if s.peek() == ',' {
				s.adv()
				continue
			}
			s.keyValue(path)
		}
	default:
		for c := s.peek(); c != 0 && c != ',' && c != ']' && c != '}' && c != '\n' && c != '#'; c = s.peek() {
			s.adv()
		}
	}
}

func (s *scanner) basicString() string {
	if strings.HasPrefix(s.src[s.i:], `"""`) {
		s.adv()
		s.adv()
		s.adv()
		start := s.i
		for !s.eof() && !strings.HasPrefix(s.src[s.i:], `"""`) {
			if s.peek() == '\\' {
				s.adv()
			}
			s.adv()
		}
		v := s.src[start:s.i]
		s.adv()
		s.adv()
		s.adv()
		return v
	}
	s.adv()
	var b strings.Builder
	for !s.eof() && s.peek() != '"' && s.peek() != '\n' {
		if s.peek() == '\\' {
			s.adv()
			if s.eof() {
				break
			}
		}
		b.WriteByte(s.peek())
		s.adv()
	}
	s.adv()
	return b.String()
}

func (s *scanner) literalString() string {
	if strings.HasPrefix(s.src[s.i:], `'''`) {
		s.adv()
		s.adv()
		s.adv()
		start := s.i
		for !s.eof() && !strings.HasPrefix(s.src[s.i:], `'''`) {
			s.adv()
		}
		v := s.src[start:s.i]
		s.adv()
		s.adv()
		s.adv()
		return v
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
