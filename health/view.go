package health

import (
	"hash/maphash"
	"iter"
	"maps"
	"net/netip"
	"time"
)

// Status is what is known about one target.
type Status struct {
	Addr      netip.Addr    // the target's address
	Known     bool          // false until the first result
	Up        bool          // meaningful only when Known
	Since     time.Time     // the last state change (the first result counts as one)
	LastCheck time.Time     // when the last probe finished
	LastOK    bool          // the last probe's own result, before rise/fall
	Reason    string        // the last probe's reason: "ok", "status 503", "timeout after 2s"...
	Latency   time.Duration // the last probe's duration
}

// viewShards is the number of shards in a View. A result copies one shard,
// about len/viewShards entries, plus this many pointers.
const viewShards = 32

type shard map[string]Status

// View is an immutable snapshot of every target's Status. The Manager
// publishes a new View for every result and for every Update; a View once
// published never changes, so readers need no locks and may keep it for
// the whole of a query. A nil *View is valid and empty.
type View struct {
	seed   maphash.Seed
	n      int
	shards [viewShards]shard // nil shards are empty; never written after publication
}

func newView(seed maphash.Seed) *View { return &View{seed: seed} }

func (v *View) shardOf(key string) int {
	return int(maphash.String(v.seed, key) % viewShards)
}

// Get returns the status of key and whether the view has that key.
func (v *View) Get(key string) (Status, bool) {
	if v == nil {
		return Status{}, false
	}
	s, ok := v.shards[v.shardOf(key)][key]
	return s, ok
}

// Up reports whether key should be served: true unless the key's latest
// state is known to be down. An unknown key, or one without a result yet,
// counts as up, so a restart or a new endpoint never loses answers before
// a probe has said anything.
func (v *View) Up(key string) bool {
	s, ok := v.Get(key)
	return !ok || !s.Known || s.Up
}

// Len returns the number of targets in the view.
func (v *View) Len() int {
	if v == nil {
		return 0
	}
	return v.n
}

// All yields every key and its status, in no particular order.
func (v *View) All() iter.Seq2[string, Status] {
	return func(yield func(string, Status) bool) {
		if v == nil {
			return
		}
		for _, sh := range v.shards {
			for k, s := range sh {
				if !yield(k, s) {
					return
				}
			}
		}
	}
}

// with returns a copy of v with key set to s. Only the key's shard is
// copied; the other shards are shared with v, which is never written again.
func (v *View) with(key string, s Status) *View {
	nv := *v
	i := v.shardOf(key)
	old := v.shards[i]
	sh := make(shard, len(old)+1)
	maps.Copy(sh, old)
	if _, ok := old[key]; !ok {
		nv.n++
	}
	sh[key] = s
	nv.shards[i] = sh
	return &nv
}

// buildView returns a new view holding exactly entries.
func buildView(seed maphash.Seed, entries map[string]Status) *View {
	v := newView(seed)
	for k, s := range entries {
		i := v.shardOf(k)
		if v.shards[i] == nil {
			v.shards[i] = make(shard)
		}
		v.shards[i][k] = s
	}
	v.n = len(entries)
	return v
}
