package wire

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"txxt/world"
)

func tid(n byte) world.ID {
	var id world.ID
	id[0], id[15] = 0x7E, n
	return id
}

var sampleTask = world.Task{ID: tid(1), Status: world.Active, Priority: world.High,
	Slot: world.Slot{Date: 20412, Start: 540, Duration: 90}, Service: tid(2), Assignee: tid(3),
	Title: "Rotate the certificates ✓", Created: 4}

func sampleEvents() []world.Event {
	id := world.Task{ID: tid(1)}
	return []world.Event{
		{Revision: 1, Kind: world.EvTaskCreated, Task: sampleTask},
		{Revision: 2, Kind: world.EvTaskScheduled, Task: world.Task{ID: tid(1), Slot: sampleTask.Slot}},
		{Revision: 3, Kind: world.EvTaskMoved, Task: world.Task{ID: tid(1), Slot: world.Slot{Date: 1, Start: 0, Duration: 1440}}},
		{Revision: 4, Kind: world.EvTaskUnscheduled, Task: id},
		{Revision: 5, Kind: world.EvTaskCompleted, Task: id},
		{Revision: 6, Kind: world.EvTaskDeleted, Task: id},
		{Revision: 7, Kind: world.EvTaskRenamed, Task: world.Task{ID: tid(1), Title: strings.Repeat("é", 64)}},
		{Revision: 8, Kind: world.EvTaskPrioritized, Task: world.Task{ID: tid(1), Priority: world.Urgent}},
		{Revision: 9, Kind: world.EvTaskAssigned, Task: world.Task{ID: tid(1), Assignee: tid(9)}},
		{Revision: 10, Kind: world.EvTaskStarted, Task: id},
		{Revision: 11, Kind: world.EvTaskReopened, Task: id},
		{Revision: 12, Kind: world.EvServiceCreated, Service: world.Service{ID: tid(2), Name: "Platform"}},
		{Revision: 13, Kind: world.EvServiceRenamed, Service: world.Service{ID: tid(2), Name: strings.Repeat("n", 64)}},
		{Revision: 14, Kind: world.EvUserCreated, User: world.User{ID: tid(3), Name: "alice"}},
		{Revision: 15, Kind: world.EvUserRenamed, User: world.User{ID: tid(3), Name: "Alice"}},
		{Revision: 1 << 40, Kind: world.EvGridChanged, Grid: 15},
		{Revision: 16, Kind: world.EvTaskServiceChanged, Task: world.Task{ID: tid(1), Service: tid(4)}},
		{Revision: 17, Kind: world.EvServiceRecolored, Service: world.Service{ID: tid(2), Color: 0x3B82F6}},
		{Revision: 18, Kind: world.EvServiceRecolored, Service: world.Service{ID: tid(2), Color: 0xFFFFFFFF}}, // the codec passes it; the world refuses it
		{Revision: 19, Kind: world.EvServiceArchived, Service: world.Service{ID: tid(2), Archived: true}},
		{Revision: 20, Kind: world.EvServiceArchived, Service: world.Service{ID: tid(2)}},
		{Revision: 21, Kind: world.EvScheduleChanged, Schedule: world.Schedule{WorkdayStart: 540, WorkdayEnd: 1050, FirstDay: 6, TimeZone: "America/Argentina/Buenos_Aires", WorkingDays: world.MondayToFriday}},
		{Revision: 22, Kind: world.EvScheduleChanged, Schedule: world.Schedule{WorkdayStart: 0, WorkdayEnd: 1440, TimeZone: strings.Repeat("Z", world.MaxTimeZone), WorkingDays: 0x41}},
	}
}

func TestEventRoundTrip(t *testing.T) {
	for _, ev := range sampleEvents() {
		t.Run(ev.Kind.String(), func(t *testing.T) {
			frame := AppendEvent(nil, &ev)
			if len(frame) != eventSizes[frame[0]] {
				t.Fatalf("length %d", len(frame))
			}
			got, err := DecodeEvent(frame)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, ev) {
				t.Errorf("round trip\n got %+v\nwant %+v", got, ev)
			}
			for _, n := range []int{len(frame) - 1, len(frame) + 1} {
				if ev.Kind == world.EvScheduleChanged && n == len(frame)-1 {
					// The layout before working days: Monday to Friday.
					old, err := DecodeEvent(frame[:n])
					if want := ev.Schedule; err != nil || old.Schedule != (world.Schedule{WorkdayStart: want.WorkdayStart, WorkdayEnd: want.WorkdayEnd, FirstDay: want.FirstDay, TimeZone: want.TimeZone, WorkingDays: world.MondayToFriday}) {
						t.Errorf("ScheduleChanged of before working days: %+v, %v", old.Schedule, err)
					}
					continue
				}
				bad := append(frame[:len(frame):len(frame)], 0)[:n]
				if _, err := DecodeEvent(bad); code(err) != world.CodeBadFrame {
					t.Errorf("length %d: %v", n, err)
				}
			}
		})
	}
}

func code(err error) world.Code {
	var e *world.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return world.CodeNone
}

// TestLegacy checks what a client of the original protocol receives: the
// base events as they are, nothing else (see AppendLegacy for why a task
// change it cannot express is withheld rather than sent as a delete and a
// create).
func TestLegacy(t *testing.T) {
	for _, ev := range sampleEvents() {
		frames := AppendLegacy(nil, &ev)
		switch ev.Kind {
		case world.EvTaskCreated:
			if len(frames) != 1 || frames[0][0] != TypeTaskCreated {
				t.Fatalf("%v: %x", ev.Kind, frames)
			}
			if got, _ := DecodeEvent(frames[0]); got.Task.Created != 0 {
				t.Errorf("v0 record carries created %d: bytes 184-191 must be zero", got.Task.Created)
			}
		case world.EvTaskScheduled, world.EvTaskMoved, world.EvTaskUnscheduled, world.EvTaskCompleted, world.EvTaskDeleted:
			if len(frames) != 1 || string(frames[0]) != string(AppendEvent(nil, &ev)) {
				t.Errorf("%v: base event changed: %x", ev.Kind, frames)
			}
		case world.EvTaskRenamed, world.EvTaskPrioritized, world.EvTaskAssigned, world.EvTaskStarted, world.EvTaskReopened,
			world.EvTaskServiceChanged,
			world.EvServiceCreated, world.EvServiceRenamed, world.EvUserCreated, world.EvUserRenamed, world.EvGridChanged,
			world.EvServiceRecolored, world.EvServiceArchived, world.EvScheduleChanged:
			// The original protocol cannot say these without shifting
			// its client's task list: withheld.
			if len(frames) != 0 {
				t.Errorf("%v reaches a v0 client: %x", ev.Kind, frames)
			}
		default:
			t.Errorf("%v: no row says what a v0 client gets", ev.Kind)
		}
	}
}

func sampleState(tasks int) *world.State {
	st := &world.State{Revision: 99, Grid: 15,
		Schedule: world.Schedule{WorkdayStart: 420, WorkdayEnd: 1200, FirstDay: 6, TimeZone: "Europe/Berlin", WorkingDays: 0x3F},
		Services: []world.Service{{ID: tid(2), Name: "Platform", Color: 0x10B981}, {ID: tid(4), Name: "Billing", Archived: true}},
		Users:    []world.User{{ID: tid(3), Name: "alice"}}}
	for i := range tasks {
		t := sampleTask
		t.ID[1], t.ID[2], t.ID[3] = byte(i), byte(i>>8), byte(i>>16)
		t.Created = uint64(i + 1)
		if i%5 == 0 {
			t.Status, t.Slot = world.Staged, world.NoSlot
		}
		st.Tasks = append(st.Tasks, t)
	}
	return st
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 100} {
		st := sampleState(n)
		frame := AppendSnapshot(nil, st, true)
		if len(frame) != SnapshotSize(st, true) {
			t.Errorf("v1 size %d, SnapshotSize %d", len(frame), SnapshotSize(st, true))
		}
		got, err := DecodeSnapshot(frame)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, st) && !(n == 0 && got.Tasks == nil) {
			t.Errorf("v1 round trip of %d tasks differs", n)
		}
		// The original protocol: no tail, no created revisions.
		frame0 := AppendSnapshot(nil, st, false)
		if len(frame0) != SnapshotSize(st, false) {
			t.Errorf("v0 size %d, SnapshotSize %d", len(frame0), SnapshotSize(st, false))
		}
		got0, err := DecodeSnapshot(frame0)
		if err != nil {
			t.Fatal(err)
		}
		if got0.Grid != world.DefaultGrid || got0.Users != nil || len(got0.Tasks) != n || got0.Schedule != world.DefaultSchedule() {
			t.Errorf("v0 snapshot decoded as %+v", got0)
		}
		for _, s := range got0.Services {
			if s.Color != 0 || s.Archived {
				t.Errorf("v0 snapshot gives service %+v", s)
			}
		}
		// A v1 snapshot from before the trailer (old save files hold them)
		// decodes with no colours, nothing archived, the default schedule.
		old := frame[:len(frame)-trailerSize(len(st.Services))]
		gotOld, err := DecodeSnapshot(old)
		if err != nil {
			t.Fatalf("v1 snapshot without its trailer: %v", err)
		}
		want := *st
		want.Schedule = world.DefaultSchedule()
		want.Services = []world.Service{{ID: tid(2), Name: "Platform"}, {ID: tid(4), Name: "Billing"}}
		if !reflect.DeepEqual(*gotOld, want) && !(n == 0 && gotOld.Tasks == nil) {
			t.Errorf("v1 snapshot without its trailer decoded as %+v", gotOld)
		}
		for _, task := range got0.Tasks {
			if task.Created != 0 {
				t.Fatal("v0 snapshot carries created revisions")
			}
		}
	}
	// Counts that promise more than the frame holds are refused before
	// anything is allocated.
	huge := AppendSnapshot(nil, sampleState(1), true)
	huge[9], huge[10], huge[11], huge[12] = 0xFF, 0xFF, 0xFF, 0xFF
	if _, err := DecodeSnapshot(huge); code(err) != world.CodeBadFrame {
		t.Errorf("huge count: %v", err)
	}
	bad := AppendSnapshot(nil, sampleState(1), true)
	bad[17+16] = 4 // status
	if _, err := DecodeSnapshot(bad); code(err) != world.CodeBadFrame {
		t.Errorf("status 4: %v", err)
	}
	// The trailer is all there or not at all; its archived bytes are 0 or 1.
	st := sampleState(1)
	full := AppendSnapshot(nil, st, true)
	cut := len(full) - trailerSize(len(st.Services))
	for _, n := range []int{cut + 1, cut + 5, len(full) - 2, len(full) + 1} {
		f := append(full[:len(full):len(full)], 0)[:n]
		if _, err := DecodeSnapshot(f); code(err) != world.CodeBadFrame {
			t.Errorf("snapshot of %d bytes (trailer from %d to %d): %v", n, cut, len(full), err)
		}
	}
	// Without its last byte, the schedule is one of before working days
	// (an old save file's snapshot): Monday to Friday.
	if old, err := DecodeSnapshot(full[:len(full)-1]); err != nil || old.Schedule.WorkingDays != world.MondayToFriday || old.Schedule.TimeZone != st.Schedule.TimeZone {
		t.Errorf("a snapshot of before working days: %+v, %v", old, err)
	}
	bad = bytes.Clone(full)
	bad[cut+4] = 2 // the first service's archived byte
	if _, err := DecodeSnapshot(bad); code(err) != world.CodeBadFrame {
		t.Errorf("archived byte 2: %v", err)
	}
	// A state without a schedule is written with the default one.
	st.Schedule = world.Schedule{}
	if got, err := DecodeSnapshot(AppendSnapshot(nil, st, true)); err != nil || got.Schedule != world.DefaultSchedule() {
		t.Errorf("zero schedule written as %+v (%v)", got.Schedule, err)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	slot := world.Slot{Date: 20412, Start: 600, Duration: 45}
	cmds := []world.Command{
		{Kind: world.CmdCreateTask, Priority: world.Urgent, Service: tid(2), Assignee: tid(3), Slot: slot, Text: "deploy"},
		{Kind: world.CmdCreateTask, Service: tid(2), Slot: world.Slot{Date: world.NoDate}},
		{Kind: world.CmdScheduleTask, Task: tid(1), Slot: slot},
		{Kind: world.CmdMoveTask, Task: tid(1), Slot: slot},
		{Kind: world.CmdUnscheduleTask, Task: tid(1)},
		{Kind: world.CmdCompleteTask, Task: tid(1)},
		{Kind: world.CmdDeleteTask, Task: tid(1)},
		{Kind: world.CmdCloneTask, Source: tid(1), Slot: slot},
		{Kind: world.CmdRenameTask, Task: tid(1), Text: "renamed"},
		{Kind: world.CmdRenameTask, Task: tid(1)},
		{Kind: world.CmdSetPriority, Task: tid(1), Priority: 9}, // passed through: the world refuses it
		{Kind: world.CmdAssignTask, Task: tid(1), Assignee: tid(3)},
		{Kind: world.CmdStartTask, Task: tid(1)},
		{Kind: world.CmdReopenTask, Task: tid(1)},
		{Kind: world.CmdCreateService, Text: "Ops"},
		{Kind: world.CmdRenameService, Service: tid(2), Text: "Infra"},
		{Kind: world.CmdSetGrid, Grid: 30},
		{Kind: world.CmdSetService, Task: tid(1), Service: tid(4)},
		{Kind: world.CmdRecolorService, Service: tid(2), Color: 0x3B82F6},
		{Kind: world.CmdRecolorService, Service: tid(2), Color: 0xFFFFFFFF}, // passed through: the world refuses it
		{Kind: world.CmdArchiveService, Service: tid(2), Archived: true},
		{Kind: world.CmdArchiveService, Service: tid(2)},
		{Kind: world.CmdSetSchedule, Schedule: world.Schedule{WorkdayStart: 540, WorkdayEnd: 1050, FirstDay: 6, TimeZone: "Europe/Berlin"}},
		{Kind: world.CmdSetSchedule, Schedule: world.Schedule{WorkdayStart: 9999, WorkdayEnd: 1, FirstDay: 200}}, // passed through: the world refuses it
	}
	for _, c := range cmds {
		for _, v1 := range []bool{false, true} {
			frame := AppendCommand(nil, v1, 77, &c)
			f, err := DecodeCommand(frame, v1)
			if !v1 && !v0Type(frame[0]) {
				if code(err) != world.CodeUnknownType {
					t.Errorf("%v on v0: %v, want UNKNOWN_TYPE", c.Kind, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%v v1=%v: %v", c.Kind, v1, err)
			}
			if f.Command != c {
				t.Errorf("%v v1=%v: got %+v", c.Kind, v1, f.Command)
			}
			if want := map[bool]uint32{false: 0, true: 77}[v1]; f.Request != want {
				t.Errorf("%v: request %d", c.Kind, f.Request)
			}
			if textFrames[frame[0]] {
				continue
			}
			for _, n := range []int{len(frame) - 1, len(frame) + 1} {
				bad := append(frame[:len(frame):len(frame)], 0)[:n]
				f, err := DecodeCommand(bad, v1)
				if code(err) != world.CodeBadFrame {
					t.Errorf("%v v1=%v length %d: %v", c.Kind, v1, n, err)
				}
				if v1 && n >= 5 && f.Request != 77 {
					t.Errorf("%v: request id %d not reported with the error", c.Kind, f.Request)
				}
			}
		}
	}
}

func TestCommandRefusals(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		v1    bool
		want  world.Code
	}{
		{"empty", nil, true, world.CodeBadFrame},
		{"unknown type", []byte{0x42, 1, 2, 3, 4}, true, world.CodeUnknownType},
		{"server type from a client", []byte{TypeAck, 1, 2, 3, 4}, true, world.CodeUnknownType},
		{"v1-only on v0", append([]byte{TypeStartTask}, make([]byte, 16)...), false, world.CodeUnknownType},
		{"ping on v0", append([]byte{TypePing}, make([]byte, 12)...), false, world.CodeUnknownType},
		{"v1 without request id", []byte{TypeDeleteTask, 1, 2}, true, world.CodeBadFrame},
		{"create task one short", make([]byte, 39), false, world.CodeBadFrame},
		{"create task v1 one short", make([]byte, 43), true, world.CodeBadFrame},
		{"ping short", make([]byte, 12), true, world.CodeBadFrame},
		{"stats long", make([]byte, 12), true, world.CodeBadFrame},
		{"set schedule one short of its shortest", []byte{TypeSetSchedule, 1, 0, 0, 0, 0xe0, 1, 0x38, 4}, true, world.CodeBadFrame},
		{"set schedule on v0", []byte{TypeSetSchedule, 0xe0, 1, 0x38, 4, 0, 'U', 'T', 'C'}, false, world.CodeUnknownType},
	}
	for _, tc := range tests {
		if len(tc.frame) > 0 && tc.frame[0] == 0 {
			switch len(tc.frame) {
			case 39, 43:
				tc.frame[0] = TypeCreateTask
			case 12:
				tc.frame[0] = map[bool]byte{true: TypePing, false: TypeClientStats}[tc.name == "ping short"]
			}
		}
		if _, err := DecodeCommand(tc.frame, tc.v1); code(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The archived byte of ArchiveService is 0 or 1; anything else is a
	// bad frame, reported with its request id.
	for _, b := range []byte{2, 0x80, 0xFF} {
		frame := AppendCommand(nil, true, 42, &world.Command{Kind: world.CmdArchiveService, Service: tid(2), Archived: true})
		frame[len(frame)-1] = b
		if f, err := DecodeCommand(frame, true); code(err) != world.CodeBadFrame || f.Request != 42 {
			t.Errorf("archived byte %d: %v, request %d", b, err, f.Request)
		}
	}
	// The time zone's trailing zeros are stripped, as every text's are.
	frame := AppendCommand(nil, true, 1, &world.Command{Kind: world.CmdSetSchedule, Schedule: world.Schedule{WorkdayStart: 1, WorkdayEnd: 2, TimeZone: "UTC"}})
	if f, err := DecodeCommand(append(frame, 0, 0), true); err != nil || f.Command.Schedule.TimeZone != "UTC" {
		t.Errorf("time zone with zeros: %q %v", f.Command.Schedule.TimeZone, err)
	}
	// Invalid UTF-8 and long titles are the world's to refuse, not the
	// codec's: they pass through.
	frame = AppendCommand(nil, true, 1, &world.Command{Kind: world.CmdRenameTask, Task: tid(1), Text: "\xff" + strings.Repeat("x", 200)})
	if f, err := DecodeCommand(frame, true); err != nil || len(f.Command.Text) != 201 {
		t.Errorf("text passed through: %v", err)
	}
}

func TestEncodersDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 512)
	for _, ev := range sampleEvents() {
		if n := testing.AllocsPerRun(100, func() { buf = AppendEvent(buf[:0], &ev) }); n != 0 {
			t.Errorf("AppendEvent(%v) allocates %v times", ev.Kind, n)
		}
	}
	for _, c := range []world.Command{
		{Kind: world.CmdCreateTask, Service: tid(2), Slot: sampleTask.Slot, Text: "deploy"},
		{Kind: world.CmdMoveTask, Task: tid(1), Slot: sampleTask.Slot},
		{Kind: world.CmdRecolorService, Service: tid(2), Color: 0x3B82F6},
		{Kind: world.CmdArchiveService, Service: tid(2), Archived: true},
		{Kind: world.CmdSetSchedule, Schedule: world.Schedule{WorkdayStart: 540, WorkdayEnd: 1050, FirstDay: 6, TimeZone: "Europe/Berlin"}},
	} {
		if n := testing.AllocsPerRun(100, func() { buf = AppendCommand(buf[:0], true, 7, &c) }); n != 0 {
			t.Errorf("AppendCommand(%v) allocates %v times", c.Kind, n)
		}
	}
	ack := Ack{Request: 1, Revision: 2}
	if n := testing.AllocsPerRun(100, func() { buf = AppendAck(buf[:0], &ack) }); n != 0 {
		t.Errorf("AppendAck allocates %v times", n)
	}
	st := sampleState(10)
	snap := make([]byte, 0, SnapshotSize(st, true))
	if n := testing.AllocsPerRun(10, func() { snap = AppendSnapshot(snap[:0], st, true) }); n != 0 {
		t.Errorf("AppendSnapshot allocates %v times", n)
	}
}

// checkAlloc fails when decode allocated more than the frame's size plus a
// little for headers: no length field may make a decoder allocate what the
// frame does not hold.
func checkAlloc(t *testing.T, frame []byte, decode func()) {
	// The allocation counters are the process's, and the fuzzer allocates
	// too: average over many runs so its noise washes out.
	const runs = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		decode()
	}
	runtime.ReadMemStats(&after)
	// A task is 192 bytes on the wire and at most 88 + 128 (title) in
	// memory, so the bound is a little over the frame's size.
	if got, limit := (after.TotalAlloc-before.TotalAlloc)/runs, uint64(2*len(frame)+1024); got > limit {
		t.Fatalf("decoding %d bytes allocated %d bytes", len(frame), got)
	}
}

func seed(f *testing.F, dir string) {
	for _, v := range loadVectors(f) {
		if v.Dir == dir {
			f.Add(v.bytes(f), v.Version == 1)
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	seed(f, "client")
	f.Fuzz(func(t *testing.T, frame []byte, v1 bool) {
		var cf ClientFrame
		var err error
		checkAlloc(t, frame, func() { cf, err = DecodeCommand(frame, v1) })
		if err != nil {
			if code(err) == world.CodeNone {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		switch cf.Type {
		case TypePing, TypeClientStats:
			return
		}
		// A decoded command encodes back to the same bytes, except for the
		// trailing zeros of text the decoder strips.
		again := AppendCommand(nil, v1, cf.Request, &cf.Command)
		if !textFrames[cf.Type] && string(again) != string(frame) {
			t.Fatalf("re-encoding differs:\n%x\n%x", frame, again)
		}
	})
}

func FuzzDecodeServerFrame(f *testing.F) {
	seed(f, "server")
	f.Fuzz(func(t *testing.T, frame []byte, v1 bool) {
		var sf ServerFrame
		var err error
		checkAlloc(t, frame, func() { sf, err = DecodeServerFrame(frame, v1) })
		if err != nil {
			if code(err) == world.CodeNone {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		old := sf.Type == TypeScheduleChanged && len(frame) == 9+oldScheduleSize // re-encoded in today's layout
		if IsEvent(sf.Type) && !old && sf.Type != TypeTaskCreated && sf.Type != TypeTaskRenamed &&
			sf.Type != TypeServiceCreated && sf.Type != TypeServiceRenamed && sf.Type != TypeUserCreated && sf.Type != TypeUserRenamed {
			if again := AppendEvent(nil, &sf.Event); string(again) != string(frame) {
				t.Fatalf("re-encoding differs:\n%x\n%x", frame, again)
			}
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	seed(f, "server")
	f.Fuzz(func(t *testing.T, frame []byte, _ bool) {
		checkAlloc(t, frame, func() { DecodeEvent(frame) })
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	seed(f, "server")
	f.Fuzz(func(t *testing.T, frame []byte, _ bool) {
		var st *world.State
		var err error
		checkAlloc(t, frame, func() { st, err = DecodeSnapshot(frame) })
		// Exactly one of the layouts: original, v1 from before the
		// trailer, v1 (with the non-working days' trailer when there are
		// any: SnapshotSize counts it).
		// Or v1 with the schedule of before working days, a byte shorter.
		if err == nil && len(frame) != SnapshotSize(st, true) && len(frame) != SnapshotSize(st, false) &&
			len(frame) != SnapshotSize(st, true)-trailerSize(len(st.Services)) &&
			!(len(frame) == SnapshotSize(st, true)-1 && st.Schedule.WorkingDays == world.MondayToFriday) {
			t.Fatalf("accepted a snapshot of %d bytes holding %d tasks", len(frame), len(st.Tasks))
		}
		// The grid read from the header's counts alone is the decoded one.
		if grid, ok := SnapshotGrid(frame); err == nil && ok && grid != st.Grid {
			t.Fatalf("SnapshotGrid %d, the decoded snapshot's %d", grid, st.Grid)
		}
	})
}

// SnapshotGrid reads a v1 snapshot's grid from behind its records, and
// finds none in the original layout or a frame too short for its counts.
func TestSnapshotGrid(t *testing.T) {
	for _, n := range []int{0, 1, 100} {
		st := sampleState(n)
		frame := AppendSnapshot(nil, st, true)
		if grid, ok := SnapshotGrid(frame); !ok || grid != st.Grid {
			t.Errorf("%d tasks, v1: grid %d, %v; want %d", n, grid, ok, st.Grid)
		}
		if grid, ok := SnapshotGrid(AppendSnapshot(nil, st, false)); ok {
			t.Errorf("%d tasks, v0: grid %d found", n, grid)
		}
		for _, cut := range []int{0, 1, 16, 17, len(frame) - trailerSize(len(st.Services)) - UserRecordSize*len(st.Users) - 1} {
			if grid, ok := SnapshotGrid(frame[:cut]); ok {
				t.Errorf("%d tasks, cut to %d bytes: grid %d found", n, cut, grid)
			}
		}
	}
}

// SetSchedule's working days come after the zone behind a NUL; a frame
// of before them (the zone alone, padded with zeros or not) keeps the
// team's (0).
func TestSetScheduleWorkingDays(t *testing.T) {
	head := []byte{TypeSetSchedule, 7, 0, 0, 0, 0xe0, 0x01, 0x38, 0x04, 0}
	for _, c := range []struct {
		rest string
		zone string
		days uint8
	}{
		{"UTC", "UTC", 0},
		{"UTC\x00\x00", "UTC", 0},
		{"UTC\x00\x1f", "UTC", 0x1f},
		{"Europe/Berlin\x00\x4f", "Europe/Berlin", 0x4f},
		{"UTC\x00\x00\x7f", "UTC", 0x7f},
		{"U\x00C", "U", 'C'},         // no older server took it (a NUL in the zone); read as the new layout, still refused (no zone U)
		{"UTC\x00\x80", "UTC", 0x80}, // past Sunday: the world refuses it
	} {
		f, err := DecodeCommand(append(append([]byte{}, head...), c.rest...), true)
		if err != nil || f.Command.Schedule.TimeZone != c.zone || f.Command.Schedule.WorkingDays != c.days {
			t.Errorf("%q: zone %q days %#x, %v; want %q %#x", c.rest, f.Command.Schedule.TimeZone, f.Command.Schedule.WorkingDays, err, c.zone, c.days)
		}
	}
}
