package engine

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"txxt/world"
)

var uuidRe = regexp.MustCompile(`(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}`)

// testClock is an engine's clock that a test moves by hand.
type testClock struct{ t atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *testClock) advance(d time.Duration) { c.t.Add(int64(d)) }

// refusal sends c as actor and returns its TASK_NOT_FOUND message.
func refusal(t *testing.T, e *Engine, actor world.ID, c world.Command) string {
	t.Helper()
	res, err := e.Do(context.Background(), Request{Command: c, Actor: actor})
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil || res.Err.Code != world.CodeTaskNotFound {
		t.Fatalf("%s: %+v, want TASK_NOT_FOUND", c.Kind, res)
	}
	if uuidRe.MatchString(res.Err.Message) {
		t.Errorf("message %q shows an id", res.Err.Message)
	}
	return res.Err.Message
}

// A command naming a task deleted a moment ago is refused with the task's
// title, who deleted it (their name in the world) and when, by the
// engine's clock; the one who deleted it hears "You deleted". A task never
// known, and one the engine no longer remembers, get the world's words.
func TestDeletedTaskIsNamedWithWhoAndWhen(t *testing.T) {
	clock := &testClock{}
	clock.t.Store(time.Date(2025, 12, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	e := openEngine(t, openStore(t, filepath.Join(t.TempDir(), "save")), Options{NewID: seqIDs(), Now: clock.now})
	ann, bob := world.ID{0xa1}, world.ID{0xb0}
	mustDo(t, e, world.Command{Kind: world.CmdCreateUser, User: ann, Text: "ann"})
	mustDo(t, e, world.Command{Kind: world.CmdCreateUser, User: bob, Text: "bob"})
	createService(t, e)
	task := seqIDOf(t, e, mustDo(t, e, createTask("Deploy backup")))
	if res, _ := e.Do(context.Background(), Request{Command: world.Command{Kind: world.CmdDeleteTask, Task: task}, Actor: ann}); res.Err != nil {
		t.Fatal(res.Err)
	}

	schedule := world.Command{Kind: world.CmdMoveTask, Task: task, Slot: world.Slot{Date: 20000, Start: 600, Duration: 30}}
	tests := []struct {
		name    string
		advance time.Duration
		actor   world.ID
		cmd     world.Command
		want    string
	}{
		{"under a minute is a moment ago", 59 * time.Second, bob, schedule, "'Deploy backup' was deleted by ann a moment ago."},
		{"a copy of it too", 0, bob, world.Command{Kind: world.CmdCloneTask, Source: task, Slot: world.NoSlot}, "'Deploy backup' was deleted by ann a moment ago."},
		{"the one who deleted it", 0, ann, schedule, "You deleted 'Deploy backup' a moment ago."},
		{"minutes by the engine's clock", 61 * time.Second, bob, schedule, "'Deploy backup' was deleted by ann 2 minutes ago."},
		{"hours", 3 * time.Hour, world.ID{}, schedule, "'Deploy backup' was deleted by ann 3 hours ago."},
		{"a task never known", 0, bob, world.Command{Kind: world.CmdDeleteTask, Task: world.ID{0x99}}, world.NoSuchTask},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock.advance(tc.advance)
			if got := refusal(t, e, tc.actor, tc.cmd); got != tc.want {
				t.Errorf("message %q, want %q", got, tc.want)
			}
		})
	}

	// Memory only: after a restart the engine no longer knows.
	path := filepath.Join(t.TempDir(), "restart")
	st := openStore(t, path)
	e2 := openEngine(t, st, Options{NewID: seqIDs(), Now: clock.now})
	createService(t, e2)
	gone := seqIDOf(t, e2, mustDo(t, e2, createTask("gone")))
	mustDo(t, e2, world.Command{Kind: world.CmdDeleteTask, Task: gone})
	e2.Close()
	e3 := openEngine(t, st, Options{Now: clock.now})
	if got := refusal(t, e3, bob, world.Command{Kind: world.CmdDeleteTask, Task: gone}); got != world.NoSuchTask {
		t.Errorf("after a restart: %q, want the world's words", got)
	}
}

// The record is bounded: with room for two, the third deletion forgets
// the first, and the two newest are still named.
func TestDeletionRecordForgetsTheOldest(t *testing.T) {
	clock := &testClock{}
	e := openEngine(t, openStore(t, filepath.Join(t.TempDir(), "save")), Options{NewID: seqIDs(), Now: clock.now, Deletions: 2})
	createService(t, e)
	var ids []world.ID
	for _, title := range []string{"one", "two", "three"} {
		id := seqIDOf(t, e, mustDo(t, e, createTask(title)))
		mustDo(t, e, world.Command{Kind: world.CmdDeleteTask, Task: id})
		ids = append(ids, id)
	}
	for i, want := range []string{world.NoSuchTask, "'two' was deleted a moment ago.", "'three' was deleted a moment ago."} {
		if got := refusal(t, e, world.ID{}, world.Command{Kind: world.CmdCompleteTask, Task: ids[i]}); got != want {
			t.Errorf("task %d: %q, want %q", i, got, want)
		}
	}
	var n int
	e.Read(context.Background(), func(*world.World) { n = len(e.deleted.byID) })
	if n != 2 {
		t.Errorf("%d deletions remembered, want at most 2", n)
	}
}

// A deletion in a batch the store refused never happened, so it is not
// remembered; one earlier in the same batch is already named.
func TestDeletionIsRememberedOnlyOnceDurable(t *testing.T) {
	log := &testLog{Store: openStore(t, filepath.Join(t.TempDir(), "save"))}
	e := openEngine(t, log, Options{NewID: seqIDs()})
	createService(t, e)
	id := seqIDOf(t, e, mustDo(t, e, createTask("kept")))

	// One batch: delete, then complete the deleted task.
	release := pause(t, e)
	results := make(chan Result, 2)
	for _, c := range []world.Command{{Kind: world.CmdDeleteTask, Task: id}, {Kind: world.CmdCompleteTask, Task: id}} {
		if err := e.Submit(Request{Command: c, Done: func(r Result) { results <- r }}); err != nil {
			t.Fatal(err)
		}
	}
	log.setFail(errors.New("injected: disk on fire"))
	release()
	for range 2 {
		if r := <-results; r.Err == nil || r.Err.Code != world.CodeStorageUnavailable {
			t.Fatalf("%+v, want STORAGE_UNAVAILABLE", r)
		}
	}
	log.setFail(nil)
	var remembered bool
	e.Read(context.Background(), func(*world.World) { _, remembered = e.deleted.byID[id] })
	if remembered {
		t.Error("a deletion the store refused is remembered")
	}
	if got := refusal(t, e, world.ID{}, world.Command{Kind: world.CmdDeleteTask, Task: world.ID{0x42}}); got != world.NoSuchTask {
		t.Errorf("%q", got)
	}

	release = pause(t, e)
	for _, c := range []world.Command{{Kind: world.CmdDeleteTask, Task: id}, {Kind: world.CmdCompleteTask, Task: id}} {
		if err := e.Submit(Request{Command: c, Done: func(r Result) { results <- r }}); err != nil {
			t.Fatal(err)
		}
	}
	release()
	if r := <-results; r.Err != nil {
		t.Fatalf("delete: %v", r.Err)
	}
	if r := <-results; r.Err == nil || r.Err.Message != "'kept' was deleted a moment ago." {
		t.Fatalf("complete in the same batch: %+v", r.Err)
	}
}
