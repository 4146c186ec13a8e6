package engine

import (
	"context"
	"fmt"
	"slices"

	"txxt/store"
	"txxt/wire"
	"txxt/world"
)

// Verified is what Verify found in a sound save file.
type Verified struct {
	store.Summary
	Revision uint64   // where the engine would boot
	From     uint64   // the replay started from the snapshot at this revision (0: an empty world)
	Replayed int      // log records replayed
	Matched  []uint64 // snapshots the replay reached and matched exactly
	Tasks    int      // the world at Revision
	Services int
	Users    int
}

// Verify checks a save file beyond its checksums (store.Check): every
// snapshot decodes to the revision it is stored at; the log, replayed from
// its start (an empty world when it starts at revision 1, else the oldest
// snapshot it continues), reaches every later snapshot's world exactly and
// ends where the engine would boot. It reads the file and changes nothing.
func Verify(st *store.Store) (Verified, error) {
	sum, err := st.Check()
	if err != nil {
		return Verified{}, err
	}
	v := Verified{Summary: sum, Revision: st.LastRevision()}
	worlds := map[uint64]*world.World{}
	for _, rev := range sum.Snapshots {
		frame, err := st.Snapshot(rev)
		if err != nil {
			return v, err
		}
		s, err := wire.DecodeSnapshot(frame)
		if err != nil {
			return v, fmt.Errorf("snapshot at revision %d does not decode: %w: %w", rev, err, store.ErrDamaged)
		}
		if s.Revision != rev {
			return v, fmt.Errorf("snapshot stored at revision %d holds revision %d: %w", rev, s.Revision, store.ErrDamaged)
		}
		if worlds[rev], err = world.FromState(*s); err != nil {
			return v, fmt.Errorf("snapshot at revision %d: %w: %w", rev, err, store.ErrDamaged)
		}
	}

	// Where the replay starts: an empty world if the log has everything,
	// else the oldest snapshot the log continues.
	w := world.New()
	switch {
	case sum.FirstRevision == 1 || (sum.FirstRevision == 0 && len(sum.Snapshots) == 0):
	default:
		i := slices.IndexFunc(sum.Snapshots, func(rev uint64) bool { return rev+1 >= sum.FirstRevision })
		if i < 0 {
			return v, fmt.Errorf("the log starts at revision %d and no snapshot is at or after %d to replay it from: %w",
				sum.FirstRevision, sum.FirstRevision-1, store.ErrDamaged)
		}
		v.From = sum.Snapshots[i]
		w, _ = world.FromState(worlds[v.From].State())
	}

	err = st.Records(context.Background(), v.From, func(r store.Record) error {
		if v.Replayed == 0 && r.Revision != v.From+1 {
			return fmt.Errorf("the replay from revision %d finds revision %d next: %w", v.From, r.Revision, store.ErrDamaged)
		}
		ev, err := wire.DecodeEvent(r.Frame)
		if err != nil {
			return fmt.Errorf("log record %d does not decode: %w: %w", r.Revision, err, store.ErrDamaged)
		}
		if ev.Revision != r.Revision {
			return fmt.Errorf("log record %d holds an event at revision %d: %w", r.Revision, ev.Revision, store.ErrDamaged)
		}
		if err := w.Replay(ev); err != nil {
			return fmt.Errorf("log record %d does not replay: %w: %w", r.Revision, err, store.ErrDamaged)
		}
		v.Replayed++
		if snap, ok := worlds[r.Revision]; ok {
			if !world.Equal(w, snap) {
				return fmt.Errorf("the log replayed to revision %d differs from the snapshot there: %w", r.Revision, store.ErrDamaged)
			}
			v.Matched = append(v.Matched, r.Revision)
		}
		return nil
	})
	if err != nil {
		return v, err
	}
	if w.Revision() != v.Revision {
		return v, fmt.Errorf("the replay ends at revision %d, the file at %d: %w", w.Revision(), v.Revision, store.ErrDamaged)
	}
	v.Tasks, v.Services, v.Users = w.Counts()
	return v, nil
}
