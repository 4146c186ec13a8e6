package engine

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"txxt/store"
	"txxt/wire"
	"txxt/world"
)

var berlin = world.Schedule{WorkdayStart: 540, WorkdayEnd: 1050, FirstDay: 6, TimeZone: "Europe/Berlin", WorkingDays: world.MondayToFriday}

// TestBootReplaysAdminEvents boots from a log that holds every event of a
// team's administration (no snapshot), and from the snapshot Close writes.
func TestBootReplaysAdminEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	st := openStore(t, path)
	// The log, written as the engine writes it: each accepted command's
	// event, encoded once, one record per revision.
	w := world.New()
	billing := world.ID{0xb1}
	var recs []store.Record
	for _, c := range []world.Command{
		{Kind: world.CmdCreateService, Service: serviceID, Text: "Ops"},
		{Kind: world.CmdCreateService, Service: billing, Text: "Billing"},
		{Kind: world.CmdCreateTask, Task: seqID(1), Service: billing, Slot: world.NoSlot, Text: "invoice"},
		{Kind: world.CmdRecolorService, Service: billing, Color: 0x3B82F6},
		{Kind: world.CmdArchiveService, Service: billing, Archived: true},
		{Kind: world.CmdRecolorService, Service: serviceID, Color: 0x10B981},
		{Kind: world.CmdArchiveService, Service: serviceID, Archived: true},
		{Kind: world.CmdArchiveService, Service: serviceID, Archived: false},
		{Kind: world.CmdSetSchedule, Schedule: berlin},
		{Kind: world.CmdMoveTask, Task: seqID(1), Slot: world.Slot{Date: 20000, Start: 600, Duration: 30}}, // refused: staged
		{Kind: world.CmdScheduleTask, Task: seqID(1), Slot: world.Slot{Date: 20000, Start: 600, Duration: 30}},
	} {
		ev, err := w.Apply(c)
		if err != nil {
			continue
		}
		recs = append(recs, store.Record{Revision: ev.Revision, Frame: wire.AppendEvent(nil, &ev)})
	}
	if err := st.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, st, Options{})
	got := state(t, e)
	if !equalState(got, w.State()) {
		t.Fatalf("booted world differs:\n got %+v\nwant %+v", got, w.State())
	}
	if got.Schedule != berlin {
		t.Errorf("schedule %+v", got.Schedule)
	}
	// An archived service refuses new tasks after the boot as before it.
	if res := do(t, e, world.Command{Kind: world.CmdCreateTask, Service: billing, Slot: world.NoSlot}); res.Err == nil || res.Err.Code != world.CodeServiceArchived {
		t.Fatalf("task into the archived service after boot: %+v", res)
	}
	mustDo(t, e, world.Command{Kind: world.CmdSetSchedule, Schedule: world.DefaultSchedule()})
	after := state(t, e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// The snapshot Close wrote holds them too, and the log replays onto
	// every snapshot exactly.
	if v, err := Verify(st); err != nil || v.Revision != after.Revision {
		t.Fatalf("Verify: %+v %v", v, err)
	}
	e = openEngine(t, st, Options{})
	if !equalState(state(t, e), after) {
		t.Fatal("world after reopen differs")
	}
}

// TestOldSaveFileBoots boots a save file written before the snapshot had
// its trailer: the snapshot (the golden vector of that layout, written by
// hand) decodes with no colours, nothing archived and the default
// schedule, and the log after it replays on top.
func TestOldSaveFileBoots(t *testing.T) {
	raw, err := os.ReadFile("../wire/testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct {
		Name       string
		Hex        string
		DecodeOnly bool
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	var frame []byte
	for _, v := range vectors {
		if v.DecodeOnly && strings.HasPrefix(v.Name, "v1 Snapshot, written before the trailer") {
			if frame, err = hex.DecodeString(strings.ReplaceAll(v.Hex, " ", "")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if frame == nil {
		t.Fatal("no old-layout snapshot among the golden vectors")
	}
	old, err := wire.DecodeSnapshot(frame)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old")
	st := openStore(t, path)
	if err := st.SaveSnapshot(context.Background(), old.Revision, frame); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = openStore(t, path) // the log continues from the snapshot

	e := openEngine(t, st, Options{})
	got := state(t, e)
	if got.Revision != old.Revision || len(got.Tasks) != len(old.Tasks) || len(got.Services) != 1 || len(got.Users) != 1 {
		t.Fatalf("booted %+v", got)
	}
	if got.Schedule != world.DefaultSchedule() || got.Services[0].Color != 0 || got.Services[0].Archived {
		t.Fatalf("an old snapshot gives schedule %+v, service %+v", got.Schedule, got.Services[0])
	}
	svc := got.Services[0].ID
	rev := mustDo(t, e, world.Command{Kind: world.CmdRecolorService, Service: svc, Color: 0xABCDEF})
	mustDo(t, e, world.Command{Kind: world.CmdArchiveService, Service: svc, Archived: true})
	mustDo(t, e, world.Command{Kind: world.CmdSetSchedule, Schedule: berlin})
	if rev != old.Revision+1 {
		t.Fatalf("first revision after the old snapshot %d", rev)
	}
	want := state(t, e)
	e.Close()
	if v, err := Verify(st); err != nil {
		t.Fatalf("Verify: %+v %v", v, err)
	}
	e = openEngine(t, st, Options{})
	if got := state(t, e); !equalState(got, want) || got.Schedule != berlin || !got.Services[0].Archived || got.Services[0].Color != 0xABCDEF {
		t.Fatalf("after reopen: %+v", got)
	}
}
