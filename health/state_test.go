package health

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// run feeds results ('+' success, '-' failure) and returns the state after
// each one ('U' up, 'D' down) with the changes marked by '*'.
func runState(rise, fall int, results string) (states, changes string) {
	s := newState(rise, fall)
	var st, ch strings.Builder
	for _, r := range results {
		changed := s.observe(r == '+')
		if s.up {
			st.WriteByte('U')
		} else {
			st.WriteByte('D')
		}
		if changed {
			ch.WriteByte('*')
		} else {
			ch.WriteByte('.')
		}
	}
	return st.String(), ch.String()
}

func TestStateObserve(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		results    string
		states     string
		changes    string
	}{
		{"first success is up at once", 2, 3, "+", "U", "*"},
		{"first failure is down at once", 2, 3, "-", "D", "*"},
		{"steady up", 2, 3, "++++", "UUUU", "*..."},
		{"fall 3 needs three failures", 2, 3, "+---", "UUUD", "*..*"},
		{"two failures are not enough", 2, 3, "+--+--+", "UUUUUUU", "*......"},
		{"rise 2 needs two successes", 2, 3, "-++", "DDU", "*.*"},
		{"one success is not enough", 2, 3, "-+-+-", "DDDDD", "*...."},
		{"down then up then down", 2, 3, "+---++---", "UUUDDUUUD", "*..*.*..*"},
		{"rise 1 fall 1 follows every result", 1, 1, "+-+-", "UDUD", "****"},
		{"rise 5", 5, 1, "-+++++", "DDDDDU", "*....*"},
		{"a success in the middle resets the fall count", 2, 3, "+--+---", "UUUUUUD", "*.....*"},
		{"a failure in the middle resets the rise count", 3, 3, "-++-+++", "DDDDDDU", "*.....*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			states, changes := runState(tt.rise, tt.fall, tt.results)
			if states != tt.states || changes != tt.changes {
				t.Errorf("rise=%d fall=%d results %q: got states %q changes %q, want %q %q",
					tt.rise, tt.fall, tt.results, states, changes, tt.states, tt.changes)
			}
		})
	}
}

func TestStateFlappingNeverFlips(t *testing.T) {
	for rise := 2; rise <= 4; rise++ {
		for fall := 2; fall <= 4; fall++ {
			for _, first := range []bool{true, false} {
				s := newState(rise, fall)
				s.observe(first)
				ok := !first
				for i := range 1000 {
					if s.observe(ok) {
						t.Fatalf("rise=%d fall=%d first=%v: state flipped at probe %d of an alternating sequence", rise, fall, first, i+2)
					}
					ok = !ok
				}
				if s.up != first {
					t.Errorf("rise=%d fall=%d: got up=%v, want %v", rise, fall, s.up, first)
				}
			}
		}
	}
}

// TestStateRandom checks on random sequences that every flip follows
// exactly rise successes or fall failures in a row, and that no run that
// long ever leaves the state unchanged.
func TestStateRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		rise, fall := 1+rnd.IntN(4), 1+rnd.IntN(4)
		s := newState(rise, fall)
		s.observe(rnd.IntN(2) == 0)
		okRun, failRun := 0, 0
		for range 200 {
			ok := rnd.IntN(3) != 0 // a bias so both states get visited
			if ok {
				okRun, failRun = okRun+1, 0
			} else {
				okRun, failRun = 0, failRun+1
			}
			wasUp := s.up
			changed := s.observe(ok)
			if changed != (wasUp != s.up) {
				t.Fatalf("changed=%v but up went %v → %v", changed, wasUp, s.up)
			}
			if changed && s.up && okRun < rise {
				t.Fatalf("rise=%d: went up after %d successes", rise, okRun)
			}
			if changed && !s.up && failRun < fall {
				t.Fatalf("fall=%d: went down after %d failures", fall, failRun)
			}
			if !s.up && okRun >= rise || s.up && failRun >= fall {
				t.Fatalf("rise=%d fall=%d ok run %d fail run %d: still up=%v", rise, fall, okRun, failRun, s.up)
			}
			if changed {
				okRun, failRun = 0, 0
			}
		}
	}
}
