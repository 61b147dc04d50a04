package geo

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gslb/gslb/geo/geotest"
)

// startWatch runs db.Watch until the test ends and returns once the watches
// are in place, so no event can be missed.
func startWatch(t *testing.T, db *DB) {
	t.Helper()
	ready := make(chan struct{})
	db.watching = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return after its context was cancelled")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Watch returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not start")
	}
}

// waitFor polls cond until it holds or a generous deadline passes. It asserts
// that the change happens, not how fast.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWatchRenameReplace(t *testing.T) {
	city, asn := writeTestDBs(t)
	db := openTest(t, city, asn)
	startWatch(t, db)
	addr := netip.MustParseAddr("81.2.69.170")
	if got := db.Locate(addr).Country; got != "GB" {
		t.Fatalf("before: Locate(%s).Country = %q, want GB", addr, got)
	}

	// An unrelated file in the same directory changes nothing.
	if err := os.WriteFile(filepath.Join(filepath.Dir(city), "README"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	// geoipupdate style: write the new version elsewhere, rename it over.
	moved := london
	moved.Country, moved.Subdivision = "IE", "L"
	staging := filepath.Join(t.TempDir(), "new.mmdb")
	if err := geotest.WriteCity(staging, []geotest.Net{moved}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(staging, city); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renamed file to be loaded", func() bool {
		return db.Locate(addr).Country == "IE"
	})
	if info := db.Info()[0]; info.Err != "" {
		t.Errorf("after reload: Info error %q, want none", info.Err)
	}

	// A corrupt replacement is reported and the last good version serves.
	replaceFile(t, city, []byte("not a database"))
	waitFor(t, "the corrupt file to be reported", func() bool {
		return db.Info()[0].Err != ""
	})
	if got := db.Locate(addr).Country; got != "IE" {
		t.Errorf("after corrupt replacement: Locate(%s).Country = %q, want IE (last good)", addr, got)
	}

	// And a good one after it clears the error.
	if err := geotest.WriteCity(city, cityNets); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the repaired file to be loaded", func() bool {
		return db.Locate(addr).Country == "GB" && db.Info()[0].Err == ""
	})
}

func TestWatchNilAndEmpty(t *testing.T) {
	for _, db := range []*DB{nil, openTest(t)} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- db.Watch(ctx) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch(%v): %v", db, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Watch(%v) did not return after cancel", db)
		}
	}
}

// TestWatchSymlinkSwap covers the Kubernetes volume layout: the configured
// path is a symlink through "..data", and an update swaps "..data" by rename,
// so no event names the database file itself.
func TestWatchSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "v1"), filepath.Join(dir, "v2")
	for _, v := range []string{v1, v2} {
		if err := os.Mkdir(v, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := geotest.WriteCity(filepath.Join(v1, "city.mmdb"), cityNets); err != nil {
		t.Fatal(err)
	}
	moved := london
	moved.Country = "IE"
	if err := geotest.WriteCity(filepath.Join(v2, "city.mmdb"), []geotest.Net{moved}); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	city := filepath.Join(dir, "city.mmdb")
	if err := os.Symlink(filepath.Join("..data", "city.mmdb"), city); err != nil {
		t.Fatal(err)
	}

	db := openTest(t, city)
	startWatch(t, db)
	addr := netip.MustParseAddr("81.2.69.170")
	if got := db.Locate(addr).Country; got != "GB" {
		t.Fatalf("before: Locate(%s).Country = %q, want GB", addr, got)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink("v2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the swapped symlink target to be loaded", func() bool {
		return db.Locate(addr).Country == "IE"
	})
}
