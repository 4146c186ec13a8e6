package wire

import "txxt/world"

// SnapshotSize is the exact length of st's Snapshot frame.
func SnapshotSize(st *world.State, v1 bool) int {
	n := snapshotHeader + TaskRecordSize*len(st.Tasks) + ServiceRecordSize*len(st.Services)
	if v1 {
		n += 6 + UserRecordSize*len(st.Users) + trailerSize(len(st.Services)) + nonWorkingSize(st)
	}
	return n
}

// trailerSize is the length of the v1 snapshot's trailer for s services:
// each one's colour and archive, then the schedule.
func trailerSize(s int) int { return serviceStateSize*s + scheduleSize }

// AppendSnapshot appends st as a Snapshot frame. The original protocol's
// (v1 false) has zero in bytes 184-191 of each task and no tail; v1 adds the
// created revisions and a tail: the users and the grid, then the trailer
// (each service's colour and archive, in the order of the service records,
// then the schedule).
func AppendSnapshot(dst []byte, st *world.State, v1 bool) []byte {
	dst = append(dst, TypeSnapshot)
	dst = appendU64(dst, st.Revision)
	dst = appendU32(dst, uint32(len(st.Tasks)))
	dst = appendU32(dst, uint32(len(st.Services)))
	for i := range st.Tasks {
		dst = appendTask(dst, &st.Tasks[i], v1)
	}
	for _, s := range st.Services {
		dst = appendNamed(dst, s.ID, s.Name)
	}
	if !v1 {
		return dst
	}
	dst = appendU32(dst, uint32(len(st.Users)))
	dst = appendU16(dst, st.Grid)
	for _, u := range st.Users {
		dst = appendNamed(dst, u.ID, u.Name)
	}
	for _, s := range st.Services {
		dst = appendU32(dst, s.Color)
		dst = append(dst, flag(s.Archived))
	}
	schedule := st.Schedule
	if schedule == (world.Schedule{}) {
		schedule = world.DefaultSchedule()
	}
	dst = appendSchedule(dst, &schedule)
	return appendNonWorking(dst, st)
}

// DecodeSnapshot decodes a Snapshot frame of any layout: the original one
// (no tail: the default grid, no users), a v1 one written before the
// trailer existed (save files keep those: no colours, nothing archived,
// the default schedule), or today's v1 one. Counts are checked against the
// frame's length before anything is allocated, and a frame must be exactly
// one of those three lengths.
func DecodeSnapshot(frame []byte) (*world.State, error) {
	if len(frame) < snapshotHeader {
		return nil, badFrame("snapshot shorter than its 17-byte header")
	}
	if frame[0] != TypeSnapshot {
		return nil, unknownType(frame[0])
	}
	nt, ns := uint64(le.Uint32(frame[9:])), uint64(le.Uint32(frame[13:]))
	body := uint64(len(frame) - snapshotHeader)
	base := nt*TaskRecordSize + ns*ServiceRecordSize
	if base > body {
		return nil, badFrame("snapshot shorter than its counts say")
	}
	st := &world.State{Revision: le.Uint64(frame[1:]), Grid: world.DefaultGrid, Schedule: world.DefaultSchedule()}
	var nu uint64
	var trailer []byte
	tail := frame[snapshotHeader+base:]
	switch {
	case len(tail) == 0:
	case len(tail) < 6:
		return nil, badFrame("snapshot tail shorter than 6 bytes")
	default:
		nu = uint64(le.Uint32(tail))
		st.Grid = le.Uint16(tail[4:])
		rest := uint64(len(tail) - 6)
		if rest < nu*UserRecordSize {
			return nil, badFrame("snapshot user count does not match its length")
		}
		switch extra := rest - nu*UserRecordSize; {
		case extra == 0: // written before the trailer
		case extra >= serviceStateSize*ns+oldScheduleSize:
			// The schedule is 70 bytes, or 69 when written before
			// working days; the non-working days after it are 0 or
			// 8 + 66·H + 100·O bytes, an even number, so the parity
			// of what follows the colours tells which.
			sched := uint64(scheduleSize)
			if (extra-serviceStateSize*ns)%2 == 1 {
				sched = oldScheduleSize
			}
			trailer = tail[6+nu*UserRecordSize:]
			if uint64(len(trailer)) < serviceStateSize*ns+sched {
				return nil, badFrame("snapshot trailer does not match its service and user counts")
			}
			if err := readNonWorking(trailer[serviceStateSize*ns+sched:], st); err != nil {
				return nil, err
			}
			trailer = trailer[:serviceStateSize*ns+sched]
		default:
			return nil, badFrame("snapshot trailer does not match its service and user counts")
		}
	}
	b := frame[snapshotHeader:]
	if nt > 0 {
		st.Tasks = make([]world.Task, nt)
	}
	for i := range st.Tasks {
		t, err := readTask(b[:TaskRecordSize])
		if err != nil {
			return nil, err
		}
		st.Tasks[i] = t
		b = b[TaskRecordSize:]
	}
	if ns > 0 {
		st.Services = make([]world.Service, ns)
	}
	for i := range st.Services {
		st.Services[i].ID, st.Services[i].Name = readNamed(b)
		b = b[ServiceRecordSize:]
	}
	if nu > 0 {
		st.Users = make([]world.User, nu)
		b = tail[6:]
		for i := range st.Users {
			st.Users[i].ID, st.Users[i].Name = readNamed(b)
			b = b[UserRecordSize:]
		}
	}
	if trailer != nil {
		for i := range st.Services {
			s := &st.Services[i]
			s.Color = le.Uint32(trailer)
			var err error
			if s.Archived, err = readFlag(trailer[4], "snapshot service archived"); err != nil {
				return nil, err
			}
			trailer = trailer[serviceStateSize:]
		}
		st.Schedule = readSchedule(trailer)
	}
	return st, nil
}

// SnapshotTasks calls fn with each task of a Snapshot frame (of any
// layout) whose id want accepts, in the frame's order, decoding only
// those: the history reads a few tasks of a big snapshot this way.
func SnapshotTasks(frame []byte, want func(world.ID) bool, fn func(world.Task)) error {
	if len(frame) < snapshotHeader {
		return badFrame("snapshot shorter than its 17-byte header")
	}
	if frame[0] != TypeSnapshot {
		return unknownType(frame[0])
	}
	nt := uint64(le.Uint32(frame[9:]))
	if nt*TaskRecordSize > uint64(len(frame)-snapshotHeader) {
		return badFrame("snapshot shorter than its counts say")
	}
	b := frame[snapshotHeader:]
	for range nt {
		if want(world.ID(b[:16])) {
			t, err := readTask(b[:TaskRecordSize])
			if err != nil {
				return err
			}
			fn(t)
		}
		b = b[TaskRecordSize:]
	}
	return nil
}

// SnapshotGrid returns the grid a v1 Snapshot frame carries (after its
// user count, behind the task and service records), reading only the
// header's counts; false for a frame without the v1 tail (the original
// layout) or too short for its counts.
func SnapshotGrid(frame []byte) (uint16, bool) {
	if len(frame) < snapshotHeader || frame[0] != TypeSnapshot {
		return 0, false
	}
	e := snapshotHeader + TaskRecordSize*uint64(le.Uint32(frame[9:])) + ServiceRecordSize*uint64(le.Uint32(frame[13:]))
	if e+6 > uint64(len(frame)) {
		return 0, false
	}
	return le.Uint16(frame[e+4:]), true
}
