package zones

import (
	"errors"
	"fmt"
	"sort"
)

// ConfigError is one problem in one zone file, with its position.
type ConfigError struct {
	File string
	Line int // 1-based; 0 when no position is known
	Col  int
	Key  string // dotted key path, e.g. "pools.www.endpoints.address"
	Msg  string
}

func (e *ConfigError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// ConfigErrors lists every problem found, sorted by file, line and column.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errors.Join(errs...).Error()
}

func (es ConfigErrors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Errors returns the individual problems inside err (nil if err holds none).
func Errors(err error) []*ConfigError {
	var es ConfigErrors
	if errors.As(err, &es) {
		return es
	}
	var e *ConfigError
	if errors.As(err, &e) {
		return []*ConfigError{e}
	}
	return nil
}
