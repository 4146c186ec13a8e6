package engine

// revRing holds one value a revision for the newest max revisions of a
// contiguous run, in a slice that grows with use, up to max: an idle
// team's engine holds a few dozen slots, not the whole tail (the feed's
// ring and the log fields beside it were most of the 1.7 MiB an idle
// world cost).
type revRing[T any] struct {
	s     []T
	max   int
	last  uint64 // newest revision held (or, with count 0, the one before the next)
	count int    // revisions held: last-count+1 .. last
}

// ringStart is the slots a ring starts with, at its first put.
const ringStart = 64

func newRevRing[T any](max int) revRing[T] { return revRing[T]{max: max} }

// put keeps v at rev. A rev that does not continue the run starts a new
// one.
func (r *revRing[T]) put(rev uint64, v T) {
	if r.count > 0 && rev != r.last+1 {
		r.count = 0
	}
	if r.count == len(r.s) && len(r.s) < r.max {
		r.grow()
	}
	r.s[rev%uint64(len(r.s))] = v
	r.last = rev
	r.count = min(r.count+1, len(r.s))
}

// grow doubles the slots (up to max), each value moved to its place.
func (r *revRing[T]) grow() {
	n := min(r.max, max(2*len(r.s), ringStart))
	s := make([]T, n)
	for rev := r.last - uint64(r.count) + 1; r.count > 0 && rev <= r.last; rev++ {
		s[rev%uint64(n)] = r.s[rev%uint64(len(r.s))]
	}
	r.s = s
}

// get returns the value at rev, if the ring holds it.
func (r *revRing[T]) get(rev uint64) (v T, ok bool) {
	if r.count == 0 || rev > r.last || rev+uint64(r.count) <= r.last {
		return v, false
	}
	return r.s[rev%uint64(len(r.s))], true
}

// first is the oldest revision held (last+1 when none).
func (r *revRing[T]) first() uint64 { return r.last - uint64(r.count) + 1 }

// empty forgets every value (cleared, so the ring keeps no reference)
// and starts again after last.
func (r *revRing[T]) empty(last uint64) {
	clear(r.s)
	r.last, r.count = last, 0
}
