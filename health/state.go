package health

// state is the rise/fall machine of one target. It has no clock and does
// no I/O: it sees only the sequence of probe results.
type state struct {
	rise, fall int // thresholds, both at least 1

	known  bool // false until the first result
	up     bool
	streak int // results in a row that disagree with up
}

func newState(rise, fall int) state {
	return state{rise: max(rise, 1), fall: max(fall, 1)}
}

// observe feeds one probe result and reports whether the state changed.
// The first result sets the state at once (unknown → up or down). After
// that the state flips only after rise successes in a row (down → up) or
// fall failures in a row (up → down); a result that agrees with the
// current state clears the count.
func (s *state) observe(ok bool) (changed bool) {
	if !s.known {
		s.known, s.up, s.streak = true, ok, 0
		return true
	}
	if ok == s.up {
		s.streak = 0
		return false
	}
	s.streak++
	need := s.fall
	if ok {
		need = s.rise
	}
	if s.streak < need {
		return false
	}
	s.up, s.streak = ok, 0
	return true
}
