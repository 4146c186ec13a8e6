package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"txxt/engine"
	"txxt/server"
	"txxt/store"
	"txxt/tables"
	"txxt/world"
)

// fixScans is a Tables that counts the Ranges over the sessions table:
// what a login, a listing or a revocation must not need once a user's
// sessions are indexed (on JetStream a Range reads every key).
type fixScans struct {
	tables.Tables
	scans atomic.Int64
}

func (f *fixScans) Range(ctx context.Context, table, prefix, after string, fn func(string, []byte) bool) error {
	if table == "sessions" {
		f.scans.Add(1)
	}
	return f.Tables.Range(ctx, table, prefix, after, fn)
}

// fixBackends are the tables the accounts are checked on: the Memory
// tables, and the save file (which passes the same behaviour suite,
// tabletest, as the JetStream tables).
func fixBackends(t *testing.T) map[string]func(t *testing.T) tables.Tables {
	return map[string]func(t *testing.T) tables.Tables{
		"memory": func(t *testing.T) tables.Tables { return tables.NewMemory() },
		"save file": func(t *testing.T) tables.Tables {
			st, err := store.Open(filepath.Join(t.TempDir(), "accounts.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
}

// TestSessionIndex: a user's sessions are indexed by user in the same
// updates that make and end them, so logins, listings, revocations and
// the per-user quota read that user's index, never the whole sessions
// table; sessions made before the index are indexed by one scan.
func TestSessionIndex(t *testing.T) {
	for name, open := range fixBackends(t) {
		t.Run(name, func(t *testing.T) {
			tb := &fixScans{Tables: open(t)}
			var clock atomic.Pointer[time.Time]
			start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			clock.Store(&start)
			now := func() time.Time { return *clock.Load() }
			a := server.NewAccounts(tb, fastHash, 24*time.Hour, now)
			a.MaxSessions = 3
			var endedMu sync.Mutex
			var ended []world.ID
			a.OnEnded = func(ids []world.ID) { endedMu.Lock(); ended = append(ended, ids...); endedMu.Unlock() }
			ann, err := a.Create("ann", "ann-pw", server.RoleAdmin)
			if err != nil {
				t.Fatal(err)
			}
			bob, err := a.Create("bob", "bob-pw", server.RoleMember)
			if err != nil {
				t.Fatal(err)
			}
			login := func(name string) (string, server.Session) {
				t.Helper()
				tok, s, err := a.Login(name, name+"-pw")
				if err != nil {
					t.Fatalf("login %s: %v", name, err)
				}
				at := now().Add(time.Second) // each login a second after the last: an order by creation
				clock.Store(&at)
				return tok, s
			}
			bobTok, _ := login("bob")
			var toks []string
			var ids []world.ID
			for range 5 {
				tok, s := login("ann")
				toks, ids = append(toks, tok), append(ids, s.ID)
			}

			t.Run("a login past the quota ends the oldest", func(t *testing.T) {
				if !slices.Equal(ended, ids[:2]) {
					t.Fatalf("ended %v, want the two oldest %v", ended, ids[:2])
				}
				for i, tok := range toks {
					_, err := a.Session(tok)
					if i < 2 && !errors.Is(err, server.ErrNoSession) || i >= 2 && err != nil {
						t.Fatalf("session %d of 5 after the quota of 3: %v", i+1, err)
					}
				}
				list, err := a.Sessions(ann.ID)
				if err != nil {
					t.Fatal(err)
				}
				got := []world.ID{}
				for _, s := range list {
					got = append(got, s.ID)
				}
				if want := []world.ID{ids[4], ids[3], ids[2]}; !slices.Equal(got, want) {
					t.Fatalf("ann's sessions %v, want the three newest, newest first %v", got, want)
				}
				if _, err := a.Session(bobTok); err != nil {
					t.Fatalf("bob's session after ann's logins: %v", err)
				}
				if n := tb.scans.Load(); n > 2 {
					t.Fatalf("%d scans of the sessions table; want at most one per user (the first, to index them)", n)
				}
			})

			t.Run("ending one, logging out, revoking read only the user's index", func(t *testing.T) {
				before := tb.scans.Load()
				if err := a.EndSession(ann.ID, ids[2]); err != nil {
					t.Fatal(err)
				}
				if err := a.EndSession(ann.ID, ids[2]); !errors.Is(err, server.ErrNoSession) {
					t.Fatalf("ending it again: %v, want ErrNoSession", err)
				}
				if err := a.EndSession(bob.ID, ids[3]); !errors.Is(err, server.ErrNoSession) {
					t.Fatalf("bob ending ann's session: %v, want ErrNoSession", err)
				}
				if _, err := a.Logout(toks[3]); err != nil {
					t.Fatal(err)
				}
				revoked, err := a.RevokeUser(ann.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(revoked, []world.ID{ids[4]}) {
					t.Fatalf("revoked %v, want ann's last session %v", revoked, ids[4])
				}
				for i, tok := range toks {
					if _, err := a.Session(tok); !errors.Is(err, server.ErrNoSession) {
						t.Fatalf("ann's session %d after the revocation: %v", i+1, err)
					}
				}
				if list, err := a.Sessions(ann.ID); err != nil || len(list) != 0 {
					t.Fatalf("ann's sessions after the revocation: %v %v", list, err)
				}
				if _, err := a.Session(bobTok); err != nil {
					t.Fatalf("bob's session after ann's revocation: %v", err)
				}
				if n := tb.scans.Load() - before; n != 0 {
					t.Fatalf("%d scans of the sessions table to end, log out, revoke and list", n)
				}
			})

			t.Run("logins racing at the quota", func(t *testing.T) {
				const racers = 8
				var wg sync.WaitGroup
				errs := make(chan error, racers)
				raced := make(chan string, racers)
				for range racers {
					wg.Go(func() {
						tok, _, err := a.Login("ann", "ann-pw")
						errs <- err
						raced <- tok
					})
				}
				wg.Wait()
				close(errs)
				close(raced)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				live := 0
				for tok := range raced {
					if _, err := a.Session(tok); err == nil {
						live++
					}
				}
				list, err := a.Sessions(ann.ID)
				if err != nil {
					t.Fatal(err)
				}
				if live != 3 || len(list) != 3 {
					t.Fatalf("%d logins at once with a quota of 3: %d tokens work, %d sessions listed", racers, live, len(list))
				}
			})

			t.Run("expired sessions leave the index", func(t *testing.T) {
				later := now().Add(25 * time.Hour)
				clock.Store(&later)
				n, err := a.Sweep()
				if err != nil {
					t.Fatal(err)
				}
				if n != 4 { // ann's three, bob's one
					t.Fatalf("Sweep deleted %d sessions, want 4", n)
				}
				if list, err := a.Sessions(ann.ID); err != nil || len(list) != 0 {
					t.Fatalf("ann's sessions after they expired: %v %v", list, err)
				}
			})
		})
	}
}

// TestSessionIndexAdoptsOldSessions: a session stored before the index
// (an older txxt's, or one that came with an adopted file) is found by
// the user's first listing, counted by the quota, and ended by a
// revocation.
func TestSessionIndexAdoptsOldSessions(t *testing.T) {
	for name, open := range fixBackends(t) {
		t.Run(name, func(t *testing.T) {
			tb := &fixScans{Tables: open(t)}
			a := server.NewAccounts(tb, fastHash, 24*time.Hour, time.Now)
			a.MaxSessions = 2
			ann, err := a.Create("ann", "ann-pw", server.RoleAdmin)
			if err != nil {
				t.Fatal(err)
			}
			old := map[string]server.Session{}
			for i := range 2 {
				tok := engine.RandomID().String()
				sum := sha256.Sum256([]byte(tok))
				s := server.Session{ID: engine.RandomID(), User: ann.ID, Name: "ann", Role: server.RoleAdmin,
					Created: time.Now().Add(time.Duration(i-10) * time.Minute), Expires: time.Now().Add(time.Hour), Hash: hex.EncodeToString(sum[:])}
				raw, _ := json.Marshal(s)
				if err := tb.Put(t.Context(), "sessions", s.Hash, raw); err != nil {
					t.Fatal(err)
				}
				old[tok] = s
			}
			if list, err := a.Sessions(ann.ID); err != nil || len(list) != 2 {
				t.Fatalf("ann's sessions stored before the index: %v %v, want 2", list, err)
			}
			// A login at the quota of 2 ends the oldest of the old ones.
			tok, _, err := a.Login("ann", "ann-pw")
			if err != nil {
				t.Fatal(err)
			}
			live := 0
			for otok := range old {
				if _, err := a.Session(otok); err == nil {
					live++
				}
			}
			if live != 1 {
				t.Fatalf("%d of the 2 old sessions live after a login at the quota of 2, want 1", live)
			}
			scans := tb.scans.Load()
			ids, err := a.RevokeUser(ann.ID)
			if err != nil || len(ids) != 2 {
				t.Fatalf("revoked %v %v, want 2 (one old, one new)", ids, err)
			}
			for otok := range old {
				if _, err := a.Session(otok); !errors.Is(err, server.ErrNoSession) {
					t.Fatalf("an old session after the revocation: %v", err)
				}
			}
			if _, err := a.Session(tok); !errors.Is(err, server.ErrNoSession) {
				t.Fatalf("the new session after the revocation: %v", err)
			}
			if n := tb.scans.Load() - scans; n != 0 {
				t.Fatalf("the revocation scanned the sessions table %d times", n)
			}
		})
	}
}
