package zones

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// zoneText is a small valid zone; tag makes its content (and hash) differ.
func zoneText(tag string) string {
	return "ns = [\"ns1\"]\n[records.ns1]\nA = \"192.0.2.53\"\n[records.www]\nTXT = \"" + tag + "\"\n"
}

// writeZone writes a zone file and sets its modification time.
func writeZone(t *testing.T, dir, name, src string, mod time.Time) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustLoad loads and fails the test on any error.
func mustLoad(t *testing.T, l *Loader) *Snapshot {
	t.Helper()
	s, err := l.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func origins(s *Snapshot) []string {
	var out []string
	for _, z := range s.Zones() {
		out = append(out, z.Origin)
	}
	return out
}

func fileStatus(t *testing.T, s *Snapshot, path string) FileStatus {
	t.Helper()
	for _, f := range s.Files {
		if f.File == path {
			return f
		}
	}
	t.Fatalf("no FileStatus for %s in %+v", path, s.Files)
	return FileStatus{}
}

var (
	t0 = time.Unix(1_800_000_000, 0)
	t1 = t0.Add(time.Minute)
	t2 = t0.Add(2 * time.Minute)
)

func TestLoaderReload(t *testing.T) {
	dir := t.TempDir()
	a := writeZone(t, dir, "a.test.toml", zoneText("a1"), t0)
	b := writeZone(t, dir, "b.test.toml", zoneText("b1"), t0)
	l := NewLoader(dir)
	now := time.Unix(1_900_000_000, 0)
	l.Now = func() time.Time { return now }

	// First load.
	s1 := mustLoad(t, l)
	if got, want := origins(s1), []string{"a.test.", "b.test."}; !reflect.DeepEqual(got, want) {
		t.Fatalf("zones = %q, want %q", got, want)
	}
	za, zb := s1.Zone("a.test."), s1.Zone("b.test.")
	if za.Serial != uint32(t0.Unix()) || za.SOA.Serial != za.Serial || za.NegSOA.Serial != za.Serial {
		t.Errorf("serial %d (SOA %d, negative SOA %d), want %d from the mtime", za.Serial, za.SOA.Serial, za.NegSOA.Serial, t0.Unix())
	}
	if !za.LoadedAt.Equal(now) || !s1.Built.Equal(now) {
		t.Errorf("LoadedAt %v, Built %v, want the loader's clock %v", za.LoadedAt, s1.Built, now)
	}
	if st := fileStatus(t, s1, a); st.Err != nil || st.Zone != za || st.Origin != "a.test." {
		t.Errorf("status of a = %+v", st)
	}

	// Unchanged files keep their *Zone, even when only the mtime moved.
	now = now.Add(time.Second)
	if err := os.Chtimes(b, t1, t1); err != nil {
		t.Fatal(err)
	}
	s2 := mustLoad(t, l)
	if s2.Zone("a.test.") != za || s2.Zone("b.test.") != zb {
		t.Errorf("unchanged files got new zones")
	}

	// An edit makes a new zone with a higher serial; b stays.
	writeZone(t, dir, "a.test.toml", zoneText("a2"), t1)
	s3 := mustLoad(t, l)
	za3 := s3.Zone("a.test.")
	if za3 == za || za3.Serial <= za.Serial {
		t.Errorf("after edit: same zone %v, serial %d (was %d); want a new zone with a higher serial", za3 == za, za3.Serial, za.Serial)
	}
	if za3.Serial != uint32(t1.Unix()) {
		t.Errorf("serial %d, want the new mtime %d", za3.Serial, t1.Unix())
	}
	if s3.Zone("b.test.") != zb {
		t.Errorf("b changed with a")
	}

	// A broken file keeps its last good version serving.
	writeZone(t, dir, "a.test.toml", "ns = [\"ns1\"]\n[records.www]\nA = \"192.0.2.300\"\n", t2)
	s4, err := l.Load()
	if err == nil {
		t.Fatal("Load of a broken file: no error")
	}
	if s4 == nil || s4.Zone("a.test.") != za3 {
		t.Fatalf("broken a: snapshot %v, want it to keep the last good zone", s4)
	}
	es := Errors(err)
	if len(es) != 1 || es[0].File != a || es[0].Line != 3 || !strings.Contains(es[0].Msg, "192.0.2.300") {
		t.Errorf("errors = %v, want one for %s line 3", err, a)
	}
	st := fileStatus(t, s4, a)
	if st.Err == nil || st.Zone != za3 || !strings.Contains(st.Err.Error(), "192.0.2.300") {
		t.Errorf("status of broken a = %+v, want its error and the last good zone", st)
	}
	if st := fileStatus(t, s4, b); st.Err != nil || st.Zone != zb {
		t.Errorf("status of b = %+v", st)
	}

	// Fixed: it loads again, above the last serial.
	writeZone(t, dir, "a.test.toml", zoneText("a3"), t2)
	s5 := mustLoad(t, l)
	za5 := s5.Zone("a.test.")
	if za5 == za3 || za5.Serial <= za3.Serial || fileStatus(t, s5, a).Err != nil {
		t.Errorf("fixed a: new zone %v, serial %d (was %d), status %+v", za5 != za3, za5.Serial, za3.Serial, fileStatus(t, s5, a))
	}

	// A content change with an mtime in the past still raises the serial.
	past := time.Unix(1_000_000_000, 0)
	writeZone(t, dir, "a.test.toml", zoneText("a4"), past)
	s6 := mustLoad(t, l)
	za6 := s6.Zone("a.test.")
	if za6.Serial != za5.Serial+1 {
		t.Errorf("mtime set back: serial %d, want %d (one above %d)", za6.Serial, za5.Serial+1, za5.Serial)
	}
	// ... and again within the same second.
	writeZone(t, dir, "a.test.toml", zoneText("a5"), past)
	if z := mustLoad(t, l).Zone("a.test."); z.Serial != za6.Serial+1 {
		t.Errorf("second change at one mtime: serial %d, want %d", z.Serial, za6.Serial+1)
	}

	// An added file adds its zone; a removed file removes it.
	c := writeZone(t, dir, "c.test.toml", zoneText("c1"), t0)
	s7 := mustLoad(t, l)
	if got, want := origins(s7), []string{"a.test.", "b.test.", "c.test."}; !reflect.DeepEqual(got, want) {
		t.Errorf("after adding c: zones = %q, want %q", got, want)
	}
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	s8 := mustLoad(t, l)
	if got, want := origins(s8), []string{"a.test.", "c.test."}; !reflect.DeepEqual(got, want) {
		t.Errorf("after removing b: zones = %q, want %q", got, want)
	}
	if s8.Find("www.b.test.") != nil {
		t.Errorf("removed zone still found")
	}
	for _, f := range s8.Files {
		if f.File == b {
			t.Errorf("removed file still in Files: %+v", f)
		}
	}
	if len(s8.Files) != 2 || s8.Files[0].File != a || s8.Files[1].File != c {
		t.Errorf("Files = %+v, want a and c in path order", s8.Files)
	}
}

func TestLoaderRemovedFileSerial(t *testing.T) {
	// A zone removed and put back with an older mtime (cp -p of a backup)
	// keeps rising within one Loader.
	dir := t.TempDir()
	a := writeZone(t, dir, "a.test.toml", zoneText("new"), t1)
	l := NewLoader(dir)
	before := mustLoad(t, l).Zone("a.test.").Serial
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, l)
	writeZone(t, dir, "a.test.toml", zoneText("old"), t0)
	if after := mustLoad(t, l).Zone("a.test.").Serial; after <= before {
		t.Errorf("serial %d after restoring an older file, want above %d", after, before)
	}
	// A fresh Loader (a restart) derives it from the mtime again.
	if got := mustLoad(t, NewLoader(dir)).Zone("a.test.").Serial; got != uint32(t0.Unix()) {
		t.Errorf("after restart: serial %d, want %d", got, t0.Unix())
	}
}

func TestLoaderExplicitSerial(t *testing.T) {
	dir := t.TempDir()
	writeZone(t, dir, "a.test.toml", zoneText("x")+"[soa]\nserial = 2026112501\n", t0)
	l := NewLoader(dir)
	z := mustLoad(t, l).Zone("a.test.")
	if z.Serial != 2026112501 || z.SOA.Serial != 2026112501 || z.AutoSerial {
		t.Errorf("serial %d (SOA %d, auto %v), want 2026112501 as written", z.Serial, z.SOA.Serial, z.AutoSerial)
	}
	// Lowering an explicit serial is the operator's call.
	writeZone(t, dir, "a.test.toml", zoneText("x")+"[soa]\nserial = 42\n", t1)
	if z := mustLoad(t, l).Zone("a.test."); z.Serial != 42 {
		t.Errorf("serial %d, want 42 as written", z.Serial)
	}
	// Back to automatic after a high explicit serial: it continues above it,
	// not at the (lower) mtime.
	writeZone(t, dir, "a.test.toml", zoneText("x")+"[soa]\nserial = 4000000000\n", t1)
	mustLoad(t, l)
	writeZone(t, dir, "a.test.toml", zoneText("y"), t2)
	if z := mustLoad(t, l).Zone("a.test."); z.Serial != 4000000001 || !z.AutoSerial {
		t.Errorf("serial %d (auto %v), want 4000000001", z.Serial, z.AutoSerial)
	}
}

func TestLoaderDuplicateOrigin(t *testing.T) {
	dir := t.TempDir()
	a := writeZone(t, dir, "a.toml", "origin = \"dup.test.\"\n"+zoneText("a"), t0)
	b := writeZone(t, dir, "b.toml", "# the same zone again\norigin = \"dup.test.\"\n"+zoneText("b"), t0)
	l := NewLoader(dir)
	s, err := l.Load()
	if s == nil || s.Zone("dup.test.") == nil || s.Zone("dup.test.").File != a {
		t.Fatalf("snapshot %v, want dup.test. from %s", s, a)
	}
	want := b + `:2:10: origin: duplicate zone "dup.test." (already loaded from ` + a + ")"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	if st := fileStatus(t, s, b); st.Err == nil || st.Zone != nil || st.Origin != "" {
		t.Errorf("status of the rejected file = %+v, want an error and no zone", st)
	}

	// The file serving an origin keeps it when a new file claims it, even
	// one that sorts first.
	dir2 := t.TempDir()
	writeZone(t, dir2, "m.toml", "origin = \"dup.test.\"\n"+zoneText("m"), t0)
	l2 := NewLoader(dir2)
	serving := mustLoad(t, l2).Zone("dup.test.")
	early := writeZone(t, dir2, "a.toml", "origin = \"dup.test.\"\n"+zoneText("a"), t0)
	s2, err := l2.Load()
	if s2.Zone("dup.test.") != serving {
		t.Errorf("a new file took over a served origin")
	}
	if es := Errors(err); len(es) != 1 || es[0].File != early {
		t.Errorf("error = %v, want one for %s", err, early)
	}
	// Once the first file goes, the other one serves.
	if err := os.Remove(filepath.Join(dir2, "m.toml")); err != nil {
		t.Fatal(err)
	}
	if z := mustLoad(t, l2).Zone("dup.test."); z == nil || z.File != early {
		t.Errorf("after removing m.toml: %v, want dup.test. from %s", z, early)
	}
}

func TestLoaderFiles(t *testing.T) {
	dir := t.TempDir()
	writeZone(t, dir, "a.test.toml", zoneText("a"), t0)
	for _, name := range []string{".a.test.toml.swp", ".hidden.toml", "#b.test.toml#", "#c.test.toml", "notes.txt", "d.test.toml~", "e.test.toml.tmp"} {
		writeZone(t, dir, name, "not toml at all [", t0)
	}
	if err := os.Mkdir(filepath.Join(dir, "f.test.toml"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := mustLoad(t, NewLoader(dir))
	if got := origins(s); !reflect.DeepEqual(got, []string{"a.test."}) {
		t.Errorf("zones = %q, want only a.test.", got)
	}
	if len(s.Files) != 1 {
		t.Errorf("Files = %+v, want one", s.Files)
	}

	if s, err := NewLoader(filepath.Join(dir, "missing")).Load(); err == nil || s != nil {
		t.Errorf("missing directory: %v, %v; want an error and no snapshot", s, err)
	}

	tests := []struct {
		name string
		want bool
	}{
		{"example.test.toml", true},
		{"a.toml", true},
		{".example.test.toml", false},
		{"#example.test.toml", false},
		{"example.test.toml~", false},
		{"example.test.toml.swp", false},
		{"example.test", false},
	}
	for _, tt := range tests {
		if got := IsZoneFile(tt.name); got != tt.want {
			t.Errorf("IsZoneFile(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	a := writeZone(t, dir, "a.test.toml", zoneText("a"), t0)
	bad := writeZone(t, dir, "bad.test.toml", "ns = [\"ns1\"]\nttl = -5\n", t0)
	empty := t.TempDir()
	other := t.TempDir()
	dup := writeZone(t, other, "dup.toml", "origin = \"a.test.\"\n"+zoneText("dup"), t0)
	missing := filepath.Join(dir, "missing.toml")

	zs, err := LoadPaths(dir, a, empty, missing, dup)
	var got []string
	for _, z := range zs {
		got = append(got, z.Origin+" "+filepath.Base(z.File))
	}
	if want := []string{"a.test. a.test.toml"}; !reflect.DeepEqual(got, want) {
		t.Errorf("zones = %q, want %q (a.toml once, though named twice)", got, want)
	}
	want := []string{
		dup + `:1:10: origin: duplicate zone "a.test." (already loaded from ` + a + ")",
		bad + ":2:7: ttl: -5 is out of range (want 0 to 2147483647)",
		empty + ": no *.toml zone files in directory",
		missing + ": no such file or directory",
	}
	var gotErrs []string
	for _, e := range Errors(err) {
		gotErrs = append(gotErrs, e.Error())
	}
	// Errors sort by file name, and temporary directory names vary.
	slices.Sort(gotErrs)
	slices.Sort(want)
	if !slices.Equal(gotErrs, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(gotErrs, "\n"), strings.Join(want, "\n"))
	}
}

func TestStore(t *testing.T) {
	var s Store
	if s.Current() != nil {
		t.Fatal("new Store has a snapshot")
	}
	snap := &Snapshot{}
	s.Replace(snap)
	if s.Current() != snap {
		t.Error("Current is not what Replace published")
	}
}

// TestSnapshotLookup checks Lookup against Find and the zone's nodes, with
// a parent zone whose delegated child is served too, and Referral on the
// nodes at and below a delegation.
func TestSnapshotLookup(t *testing.T) {
	parent, err := Parse("p.test.toml", []byte(`ns = ["ns1"]
[records.ns1]
A = "192.0.2.53"
[records.www]
A = "192.0.2.1"
[records.sub]
NS = ["ns1.sub"]
[records."ns1.sub"]
A = "192.0.2.54"
[records."a.b.sub"]
A = "192.0.2.55"
`), t0)
	if err != nil {
		t.Fatal(err)
	}
	child, err := Parse("sub.p.test.toml", []byte(`ns = ["ns1"]
[records.ns1]
A = "192.0.2.54"
[records.www]
A = "192.0.2.2"
`), t0)
	if err != nil {
		t.Fatal(err)
	}
	referral := map[string]bool{"sub.p.test.": true, "ns1.sub.p.test.": true, "b.sub.p.test.": true, "a.b.sub.p.test.": true}
	for name, n := range parent.Nodes {
		if n.Referral != referral[name] {
			t.Errorf("%s: Referral %v, want %v", name, n.Referral, referral[name])
		}
	}
	for _, set := range [][]*Zone{{parent}, {parent, child}} {
		s, errs := NewSnapshot(set, t0)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		names := []string{"nope.p.test.", "nope.sub.p.test.", "x.nope.invalid.", "."}
		for _, z := range set {
			for name := range z.Nodes {
				names = append(names, name)
			}
		}
		for _, name := range names {
			z, n := s.Lookup(name)
			wantZ := s.Find(name)
			var wantN *Node
			if wantZ != nil {
				wantN = wantZ.Nodes[name]
			}
			if z != wantZ || n != wantN {
				t.Errorf("%d zones: Lookup(%s) = %v, %v; want %v, %v", len(set), name, z, n, wantZ, wantN)
			}
		}
	}
}
