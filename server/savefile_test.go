package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"txxt/engine"
	"txxt/server"
	"txxt/store"
	"txxt/wire"
	"txxt/world"
)

// A save file deleted or replaced under the running server is a failed
// write: the server refuses commands STORAGE_UNAVAILABLE, says so on
// /api/status, /readyz and to every v1 client, writes a fresh save file at
// the path from memory, and carries on; a restart on the path has the
// whole world, and no second server can start on it meanwhile.
func TestVanishedSaveFileIsReportedAndWrittenAgain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replaced bool // another save file is renamed over the path; else it is deleted
		atCommit bool // found by a command's commit; else by the check every CheckEvery
	}{
		{"deleted_found_at_commit", false, true},
		{"replaced_found_by_the_check", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedBuffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			dir := t.TempDir()
			path := filepath.Join(dir, "txxt.db")
			// No retry without a command: the degraded state holds until the
			// test sends one, however slow the machine.
			opts := engine.Options{Logger: logger, RetryEvery: time.Hour, CheckEvery: time.Hour}
			if !tc.atCommit {
				opts.CheckEvery = 20 * time.Millisecond
			}
			h := start(t, options{path: path, cfg: server.Config{Logger: logger}, engine: opts})
			a, b := h.dial(true, ""), h.dial(true, "")
			a.handshake()
			b.handshake()
			var names []string
			for i, name := range []string{"first", "second", "third"} {
				a.ack(uint32(1+i), world.Command{Kind: world.CmdCreateService, Text: name})
				b.expect(wire.TypeServiceCreated)
				names = append(names, name)
			}
			before := h.eng.Revision()

			if tc.replaced {
				other, err := store.Open(filepath.Join(dir, "other.db"), store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				other.Close()
				if err := os.Rename(filepath.Join(dir, "other.db"), path); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			// Clients are told in a person's words, without the path (that
			// is for the operator's log).
			reason := "its save file was deleted under the running server"
			if tc.replaced {
				reason = "its save file was replaced by another file under the running server"
			}
			if tc.atCommit {
				a.send(10, world.Command{Kind: world.CmdCreateService, Text: "lost"})
				f, events := a.answer(10)
				if f.Type != wire.TypeError || f.Error.Code != world.CodeStorageUnavailable || strings.Contains(f.Error.Message, path) || len(events) != 0 {
					t.Fatalf("command committed to a file gone: %+v, events %v; want STORAGE_UNAVAILABLE, without the path", f, events)
				}
			}
			waitState(t, b, wire.StateDegraded, reason)
			if st := h.status(); st["degraded"] != true || !strings.Contains(st["degraded_reason"].(string), reason) {
				t.Fatalf("status %v, want degraded: %s", st, reason)
			}
			if res, _ := h.do("GET", "/readyz", "", nil); res.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("readyz %d while the save file is gone", res.StatusCode)
			}
			if h.eng.Revision() != before {
				t.Fatalf("revision moved to %d while the save file is gone", h.eng.Revision())
			}

			// The next command first has a fresh file written, then goes through.
			after := a.ack(20, world.Command{Kind: world.CmdCreateService, Text: "after"})
			if after != before+1 {
				t.Fatalf("first revision after the fresh file %d, want %d", after, before+1)
			}
			names = append(names, "after")
			// The other client gets the event, and (within a second) the news.
			var gotEvent, gotOK bool
			for deadline := time.Now().Add(wait); !gotEvent || !gotOK; {
				if time.Now().After(deadline) {
					t.Fatalf("waited %s for the event (%v) and ServerState ok (%v) after the fresh file", wait, gotEvent, gotOK)
				}
				_, f := b.read()
				switch {
				case f.Type == wire.TypeServiceCreated && f.Event.Revision == after:
					gotEvent = true
				case wire.IsEvent(f.Type):
					t.Fatalf("unexpected event 0x%02x at %d", f.Type, f.Event.Revision)
				case f.Type == wire.TypeServerState && f.ServerState.State == wire.StateOK:
					gotOK = true
				}
			}
			if res, _ := h.do("GET", "/readyz", "", nil); res.StatusCode != 200 {
				t.Fatalf("readyz %d after the fresh file", res.StatusCode)
			}
			if !strings.Contains(logs.String(), "storage recovered") {
				t.Fatalf("no recovery in the log:\n%s", logs.String())
			}
			if err := h.st.CheckFile(context.Background()); err != nil {
				t.Fatalf("no fresh save file in place: %v", err)
			}
			if aside, _ := filepath.Glob(path + ".replaced-*"); len(aside) != map[bool]int{false: 0, true: 1}[tc.replaced] {
				t.Fatalf("files moved aside: %v", aside)
			}
			// The fresh file is held as the old one was: no second server.
			if second, err := store.Open(path, store.Options{Timeout: 50 * time.Millisecond}); err == nil {
				second.Close()
				t.Fatal("a second store opened the save file of a running server")
			}

			h.stop()
			h2 := start(t, options{path: path})
			c := h2.dial(true, "")
			_, snap := c.handshake()
			var got []string
			for _, s := range snap.Services {
				got = append(got, s.Name)
			}
			slices.Sort(got)
			slices.Sort(names)
			if snap.Revision != after || !slices.Equal(got, names) {
				t.Fatalf("restarted at %d with %v, want %d with %v", snap.Revision, got, after, names)
			}
		})
	}
}
