package zones

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples loads every example zone shipped in docs/ as the server
// would, so the documentation never shows a file that fails.
func TestExamples(t *testing.T) {
	dir := filepath.Join("..", "docs", "examples", "zones")
	files, _ := filepath.Glob(filepath.Join(dir, "*.toml"))
	if len(files) == 0 {
		t.Fatalf("no example zones in %s", dir)
	}
	s, err := NewLoader(dir).Load()
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if len(s.Zones()) != len(files) {
		t.Errorf("%s: %d zones from %d files", dir, len(s.Zones()), len(files))
	}
	if _, err := LoadPaths(dir); err != nil {
		t.Errorf("LoadPaths(%s): %v", dir, err)
	}
}

// TestDocBlocks parses every ```toml block of docs/zone-format.md. A block
// without a top-level ns is a fragment and gets one.
func TestDocBlocks(t *testing.T) {
	const doc = "../docs/zone-format.md"
	src, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	rest := string(src)
	for {
		_, after, ok := strings.Cut(rest, "\n```toml\n")
		if !ok {
			break
		}
		block, tail, ok := strings.Cut(after, "\n```\n")
		if !ok {
			t.Fatalf("%s: unterminated ```toml block", doc)
		}
		rest = tail
		blocks++
		zone := block + "\n"
		if !strings.HasPrefix(zone, "ns =") && !strings.Contains(zone, "\nns =") {
			zone = "ns = [\"ns1\"]\n" + zone
		}
		if _, err := Parse("example.test.toml", []byte(zone), testMod); err != nil {
			t.Errorf("%s: block %d does not parse:\n%s\n%v", doc, blocks, block, err)
		}
	}
	if blocks == 0 {
		t.Errorf("%s: no ```toml blocks", doc)
	}
}
