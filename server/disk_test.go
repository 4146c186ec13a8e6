package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"txxt/engine"
	"txxt/server"
	"txxt/store"
	"txxt/wire"
	"txxt/world"
	"txxt/worldlog"
)

// faultyLog is the real store's log with a switch that makes its writes
// fail, as a full or failing disk would. With written, a failing commit
// writes its records first, as a failed fsync leaves them in the page
// cache for the file to read back.
type faultyLog struct {
	*store.Store
	fail, written atomic.Bool
}

// errDisk is what a full disk answers a write. Its text, with the file's
// path, is for the operator's log: clients hear "its disk is full".
var errDisk = &os.PathError{Op: "write", Path: "/data/txxt.db", Err: syscall.ENOSPC}

func (l *faultyLog) Append(ctx context.Context, recs []worldlog.Record) error {
	if l.fail.Load() {
		if l.written.Load() {
			l.Store.Append(ctx, recs)
		}
		return errDisk
	}
	return l.Store.Append(ctx, recs)
}

func (l *faultyLog) Rewrite(ctx context.Context, rev uint64, frame []byte, tail []worldlog.Record) error {
	if l.fail.Load() {
		return errDisk
	}
	return l.Store.Rewrite(ctx, rev, frame, tail)
}

// When the save file refuses writes, the server refuses commands with
// STORAGE_UNAVAILABLE, broadcasts nothing, says so on /api/status, /readyz
// and to every v1 client, logs it once, stays healthy for a supervisor,
// and recovers by itself when the storage does, by writing a fresh save
// file from memory. Run twice: a commit refused outright, and one whose
// records reached the file though its fsync failed.
func TestStorageFailureIsReportedAndRecovered(t *testing.T) {
	for _, written := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "failed-fsync"}[written], func(t *testing.T) {
			storageFailure(t, written)
		})
	}
}

func storageFailure(t *testing.T, written bool) {
	var fl *faultyLog
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	path := filepath.Join(t.TempDir(), "txxt.db")
	h := start(t, options{
		path:   path,
		cfg:    server.Config{Logger: logger},
		engine: engine.Options{Logger: logger},
		wrap:   func(st *store.Store) worldlog.Log { fl = &faultyLog{Store: st}; fl.written.Store(written); return fl },
	})
	a, b := h.dial(true, ""), h.dial(true, "")
	a.handshake()
	b.handshake()
	before := a.ack(1, world.Command{Kind: world.CmdCreateService, Text: "before"})
	b.expect(wire.TypeServiceCreated)

	fl.fail.Store(true)
	for i := range 5 {
		a.send(uint32(10+i), world.Command{Kind: world.CmdCreateService, Text: "lost"})
		f, events := a.answer(uint32(10 + i))
		if f.Type != wire.TypeError || f.Error.Code != world.CodeStorageUnavailable || !strings.Contains(f.Error.Message, "nothing was changed") ||
			strings.Contains(f.Error.Message, errDisk.Path) || len(events) != 0 {
			t.Fatalf("command during the failure: %+v, events %v", f, events)
		}
	}
	if h.eng.Revision() != before {
		t.Fatalf("revision moved to %d during the failure", h.eng.Revision())
	}
	// Every v1 client is told; the server is not ready but healthy.
	waitState(t, b, wire.StateDegraded, "its disk is full")
	st := h.status()
	if st["degraded"] != true || st["degraded_reason"] != "its disk is full" {
		t.Fatalf("status %v", st)
	}
	if !strings.Contains(logs.String(), errDisk.Path) || !strings.Contains(logs.String(), "no space left") {
		t.Fatalf("the operator's log does not have the error:\n%s", logs.String())
	}
	if res, _ := h.do("GET", "/readyz", "", nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d while degraded", res.StatusCode)
	}
	if res, _ := h.do("GET", "/healthz", "", nil); res.StatusCode != 200 {
		t.Fatalf("healthz %d while degraded", res.StatusCode)
	}
	if n := strings.Count(logs.String(), "storage unavailable"); n != 1 {
		t.Fatalf("the failure was logged %d times, want once:\n%s", n, logs.String())
	}

	// The disk recovers: the next command goes through, clients hear it.
	fl.fail.Store(false)
	after := a.ack(20, world.Command{Kind: world.CmdCreateService, Text: "after"})
	if after != before+1 {
		t.Fatalf("first revision after recovery %d, want %d", after, before+1)
	}
	// The other client gets the event, and (within a second) the news.
	var gotEvent, gotOK bool
	for deadline := time.Now().Add(wait); !gotEvent || !gotOK; {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for the event (%v) and ServerState ok (%v) after recovery", wait, gotEvent, gotOK)
		}
		_, f := b.read()
		switch {
		case f.Type == wire.TypeServiceCreated:
			if f.Event.Revision != after || f.Event.Service.Name != "after" {
				t.Fatalf("other client got %+v", f.Event)
			}
			gotEvent = true
		case wire.IsEvent(f.Type):
			t.Fatalf("unexpected event 0x%02x", f.Type)
		case f.Type == wire.TypeServerState && f.ServerState.State == wire.StateOK:
			gotOK = true
		}
	}
	if res, _ := h.do("GET", "/readyz", "", nil); res.StatusCode != 200 {
		t.Fatalf("readyz %d after recovery", res.StatusCode)
	}
	if !strings.Contains(logs.String(), "storage recovered") {
		t.Fatalf("no recovery in the log:\n%s", logs.String())
	}

	// A restart on the file has what was acknowledged, and nothing refused.
	h.stop()
	h2 := start(t, options{path: path})
	c := h2.dial(true, "")
	_, snap := c.handshake()
	var names []string
	for _, s := range snap.Services {
		names = append(names, s.Name)
	}
	if snap.Revision != after || strings.Contains(strings.Join(names, ","), "lost") {
		t.Fatalf("restarted at %d with %v, want %d without lost", snap.Revision, names, after)
	}
}

// waitState reads c's frames until a ServerState with state (and reason);
// no event may come on the way.
func waitState(t *testing.T, c *client, state uint8, reason string) {
	t.Helper()
	for deadline := time.Now().Add(wait); ; { // control frames keep coming: bound the whole wait
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for ServerState %d saying %q", wait, state, reason)
		}
		_, f := c.read()
		if wire.IsEvent(f.Type) {
			t.Fatalf("an event (0x%02x) was broadcast while waiting for state %d", f.Type, state)
		}
		if f.Type == wire.TypeServerState && f.ServerState.State == state && strings.Contains(f.ServerState.Reason, reason) {
			return
		}
	}
}

// The same with a real full disk: the save file on a 4 MiB tmpfs, filled
// up by another file until the server's commits fail; then the other
// file goes, and the server carries on by itself.
func TestRealFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	h := start(t, options{path: filepath.Join(dir, "txxt.db")})
	c := h.dial(true, "")
	c.handshake()
	c.ack(1, world.Command{Kind: world.CmdCreateService, Text: "before"})

	// Fill what is left.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(chunk); err != nil {
			break
		}
	}
	filler.Close()

	var acked []string
	var refused *wire.ErrorFrame
	for i := 0; refused == nil && i < 20000; i++ {
		name := fmt.Sprintf("svc-%05d-%s", i, strings.Repeat("x", 40))
		// Paced under the rate limit: a batch is durable in the
		// write-ahead file's blocks, allocated before the disk filled,
		// and the full disk is found by the checkpoint that copies it
		// into the save file, soon after.
		time.Sleep(6 * time.Millisecond)
		c.send(uint32(100+i), world.Command{Kind: world.CmdCreateService, Text: name})
		f, _ := c.answer(uint32(100 + i))
		if f.Type == wire.TypeAck {
			acked = append(acked, name)
			continue
		}
		refused = &f.Error
	}
	if refused == nil || refused.Code != world.CodeStorageUnavailable {
		t.Fatalf("the full disk never refused a command (last: %+v, %d acked)", refused, len(acked))
	}
	rev := h.eng.Revision()
	eventually(t, "status says degraded", func() bool { return h.status()["degraded"] == true })

	os.Remove(filepath.Join(dir, "filler"))
	next := c.ack(90000, world.Command{Kind: world.CmdCreateService, Text: "after"})
	if next != rev+1 {
		t.Fatalf("after the disk freed up: revision %d, want %d", next, rev+1)
	}
	eventually(t, "status says ok", func() bool { return h.status()["degraded"] == false })

	// Nothing acknowledged was lost: restart on the same file.
	h.stop()
	h2 := start(t, options{path: filepath.Join(dir, "txxt.db")})
	c2 := h2.dial(true, "")
	_, snap := c2.handshake()
	have := map[string]bool{}
	for _, s := range snap.Services {
		have[s.Name] = true
	}
	for _, name := range append(acked, "before", "after") {
		if !have[name] {
			t.Fatalf("%s was acknowledged and is gone after the restart", name)
		}
	}
	if snap.Revision != next {
		t.Fatalf("restarted at %d, want %d", snap.Revision, next)
	}
	t.Logf("%d commands acknowledged before the disk filled; refused: %s", len(acked), refused.Message)
}
