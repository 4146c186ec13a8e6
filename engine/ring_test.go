package engine

import "testing"

// A ring grows as revisions come, keeps the newest max of a run, moves
// every value to its place as it grows, and starts again on a gap.
func TestRevRingGrowsAndKeepsTheNewest(t *testing.T) {
	r := newRevRing[uint64](200)
	check := func(from, to uint64) {
		t.Helper()
		for rev := from; rev <= to; rev++ {
			if v, ok := r.get(rev); !ok || v != rev*10 {
				t.Fatalf("revision %d: %d %v, want %d (ring holds %d to %d in %d slots)", rev, v, ok, rev*10, r.first(), r.last, len(r.s))
			}
		}
		if _, ok := r.get(from - 1); ok && from > 1 {
			t.Fatalf("revision %d is held, the ring should start at %d", from-1, from)
		}
		if _, ok := r.get(to + 1); ok {
			t.Fatalf("revision %d is held, past the last", to+1)
		}
	}
	if _, ok := r.get(1); ok || len(r.s) != 0 {
		t.Fatalf("a new ring holds something, or %d slots", len(r.s))
	}
	for rev := uint64(1001); rev <= 1050; rev++ {
		r.put(rev, rev*10)
	}
	if len(r.s) != ringStart {
		t.Fatalf("%d slots after 50 revisions, want %d", len(r.s), ringStart)
	}
	check(1001, 1050)
	for rev := uint64(1051); rev <= 1180; rev++ {
		r.put(rev, rev*10)
	}
	check(1001, 1180) // 180: grown through 128 to 200
	for rev := uint64(1181); rev <= 1700; rev++ {
		r.put(rev, rev*10)
	}
	if len(r.s) != 200 {
		t.Fatalf("%d slots, want the max of 200", len(r.s))
	}
	check(1501, 1700)
	r.put(5000, 50000) // a gap: a new run
	check(5000, 5000)
	r.empty(6000)
	if _, ok := r.get(5000); ok || r.first() != 6001 {
		t.Fatalf("after empty: first %d", r.first())
	}
}

// The deleted tasks remembered grow with use and forget the oldest past
// their bound.
func TestDeletionsGrowThenForgetTheOldest(t *testing.T) {
	d := newDeletions(3)
	if len(d.ring) != 0 {
		t.Fatalf("%d entries before any deletion", len(d.ring))
	}
	for i := byte(1); i <= 5; i++ {
		d.add(deletion{task: [16]byte{i}, title: string('a' + rune(i))})
	}
	for i := byte(1); i <= 5; i++ {
		got, ok := d.get([16]byte{i})
		if want := i >= 3; ok != want || ok && got.title != string('a'+rune(i)) {
			t.Fatalf("task %d: %+v %v, want remembered %v", i, got, ok, want)
		}
	}
	if len(d.ring) != 3 || len(d.byID) != 3 {
		t.Fatalf("%d entries, %d in the map, want 3", len(d.ring), len(d.byID))
	}
}
