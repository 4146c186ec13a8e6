// Package tabletest is the behaviour suite every tables.Tables backend
// passes: one suite, run by each backend's tests over its own
// constructor, so the in-memory tables, the save file and JetStream are
// held to the same sentences.
package tabletest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"txxt/tables"
)

// Backend opens the tables the suite runs on.
type Backend struct {
	// New returns new, empty tables. The backend cleans them up when the
	// test ends.
	New func(t *testing.T) tables.Tables

	// Reopen closes tb and opens the same tables again, as a restart of
	// its process would.
	Reopen func(t *testing.T, tb tables.Tables) tables.Tables

	// Second returns another handle on tb's tables, as a second node of
	// the deployment would open them (one process with a local file: the
	// same handle).
	Second func(t *testing.T, tb tables.Tables) tables.Tables
}

// The tables the suite uses: names every backend holds (the save file
// holds a fixed set).
const (
	users    = "users"
	sessions = "sessions"
)

// Run runs the suite, one subtest per behaviour.
func Run(t *testing.T, b Backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"a_missing_key_reads_nil", missing},
		{"put_get_and_delete", putGetDelete},
		{"values_are_copied", copied},
		{"an_empty_value_is_a_value", emptyValue},
		{"tables_are_apart", apart},
		{"keys_of_any_bytes_read_back_in_byte_order", anyBytes},
		{"bad_keys_tables_and_values_are_refused", refused},
		{"range_in_key_order_by_prefix_and_after", ranges},
		{"paging_over_thousands_of_keys", paging},
		{"an_update_is_all_or_none", allOrNone},
		{"an_update_reads_its_own_writes", ownWrites},
		{"an_update_that_read_a_changed_key_conflicts", staleRead},
		{"an_update_that_read_an_absent_key_conflicts_when_it_appears", staleAbsence},
		{"a_key_read_and_not_written_is_checked", readOnlyChecked},
		{"a_deleted_key_can_be_made_again", recreate},
		{"do_retries_an_update_that_lost_a_race", doRetries},
		{"do_gives_up_after_max_attempts", doGivesUp},
		{"an_update_of_too_many_keys_is_refused", tooMany},
		{"racing_writers_exactly_one_wins_each_round", rounds},
		{"racing_writers_lose_no_increment", counter},
		{"a_second_handle_sees_every_write", second},
		{"a_reopen_sees_what_was_written", reopen},
		{"an_ended_context_writes_nothing", endedContext},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

var ctx = context.Background()

func get(t *testing.T, tb tables.Tables, table, key string) []byte {
	t.Helper()
	v, err := tb.Get(ctx, table, key)
	if err != nil {
		t.Fatalf("get %s/%q: %v", table, key, err)
	}
	return v
}

func put(t *testing.T, tb tables.Tables, table, key, val string) {
	t.Helper()
	if err := tb.Put(ctx, table, key, []byte(val)); err != nil {
		t.Fatalf("put %s/%q: %v", table, key, err)
	}
}

func want(t *testing.T, tb tables.Tables, table, key string, val any) {
	t.Helper()
	got := get(t, tb, table, key)
	switch val := val.(type) {
	case nil:
		if got != nil {
			t.Fatalf("%s/%q holds %q, want nothing", table, key, got)
		}
	case string:
		if got == nil || string(got) != val {
			t.Fatalf("%s/%q holds %q (nil %v), want %q", table, key, got, got == nil, val)
		}
	}
}

// keys returns the keys (and values) a Range gives, in its order.
func keys(t *testing.T, tb tables.Tables, table, prefix, after string) (ks, vs []string) {
	t.Helper()
	err := tb.Range(ctx, table, prefix, after, func(k string, v []byte) bool {
		ks, vs = append(ks, k), append(vs, string(v))
		return true
	})
	if err != nil {
		t.Fatalf("range %s prefix %q after %q: %v", table, prefix, after, err)
	}
	return ks, vs
}

func missing(t *testing.T, b Backend) {
	tb := b.New(t)
	want(t, tb, users, "nobody", nil)
	if ks, _ := keys(t, tb, users, "", ""); len(ks) != 0 {
		t.Fatalf("a new table ranges over %q", ks)
	}
	if err := tb.Delete(ctx, users, "nobody"); err != nil {
		t.Fatalf("delete a missing key: %v", err)
	}
	if err := tables.ForEach(ctx, tb, sessions, func(string, []byte) error { return errors.New("called") }); err != nil {
		t.Fatalf("ForEach over an empty table: %v", err)
	}
}

func putGetDelete(t *testing.T, b Backend) {
	tb := b.New(t)
	put(t, tb, users, "ann", "one")
	want(t, tb, users, "ann", "one")
	put(t, tb, users, "ann", "two")
	want(t, tb, users, "ann", "two")
	if err := tb.Delete(ctx, users, "ann"); err != nil {
		t.Fatal(err)
	}
	want(t, tb, users, "ann", nil)
	put(t, tb, users, "ann", "three")
	want(t, tb, users, "ann", "three")
}

func copied(t *testing.T, b Backend) {
	tb := b.New(t)
	val := []byte("value")
	if err := tb.Put(ctx, users, "ann", val); err != nil {
		t.Fatal(err)
	}
	val[0] = 'X'
	got := get(t, tb, users, "ann")
	got[1] = 'X'
	want(t, tb, users, "ann", "value")
	err := tb.Update(ctx, func(tx tables.Tx) error {
		v := []byte("other")
		err := tx.Put(users, "bob", v)
		v[0] = 'X'
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want(t, tb, users, "bob", "other")
}

func emptyValue(t *testing.T, b Backend) {
	tb := b.New(t)
	put(t, tb, users, "ann", "")
	if got := get(t, tb, users, "ann"); got == nil || len(got) != 0 {
		t.Fatalf("an empty value reads back as %q (nil %v), want empty and not nil", got, got == nil)
	}
	err := tb.Update(ctx, func(tx tables.Tx) error {
		v, err := tx.Get(users, "ann")
		if err == nil && v == nil {
			err = errors.New("an update reads an empty value as none")
		}
		if err == nil {
			err = tx.Put(users, "bob", nil)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, tb, users, "bob"); got == nil || len(got) != 0 {
		t.Fatalf("a nil value put in an update reads back as %q (nil %v), want empty", got, got == nil)
	}
}

func apart(t *testing.T, b Backend) {
	tb := b.New(t)
	put(t, tb, users, "k", "a user")
	put(t, tb, sessions, "k", "a session")
	want(t, tb, users, "k", "a user")
	want(t, tb, sessions, "k", "a session")
	if err := tb.Delete(ctx, users, "k"); err != nil {
		t.Fatal(err)
	}
	want(t, tb, sessions, "k", "a session")
	if ks, _ := keys(t, tb, users, "", ""); len(ks) != 0 {
		t.Fatalf("users after the delete: %q", ks)
	}
}

func anyBytes(t *testing.T, b Backend) {
	tb := b.New(t)
	odd := []string{
		"a.b", "a*", "a>", "a b", "a=3D", "=", "%2F", "p/ann/My view", "id:7", "ünïcødé", "\x00", "\xff\xfe",
		"-", "_", "/", ".", "..", "\t\r\n", strings.Repeat("é", tables.MaxKey/2), strings.Repeat(".", tables.MaxKey),
	}
	for i, k := range odd {
		put(t, tb, users, k, strconv.Itoa(i))
	}
	for i, k := range odd {
		want(t, tb, users, k, strconv.Itoa(i))
	}
	sorted := append([]string(nil), odd...)
	sortStrings(sorted)
	ks, _ := keys(t, tb, users, "", "")
	if strings.Join(ks, "|") != strings.Join(sorted, "|") {
		t.Fatalf("range gives\n%q\nwant byte order\n%q", ks, sorted)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func refused(t *testing.T, b Backend) {
	tb := b.New(t)
	for _, c := range []struct {
		name       string
		table, key string
		val        []byte
		want       error
		getToo     bool
		updateToo  bool
		rangeToo   bool
	}{
		{"an_empty_key", users, "", []byte("x"), tables.ErrKey, true, true, false},
		{"a_key_past_the_limit", users, strings.Repeat("k", tables.MaxKey+1), []byte("x"), tables.ErrKey, true, true, false},
		{"a_table_with_no_name", "", "k", []byte("x"), tables.ErrTable, true, true, true},
		{"a_table_name_not_of_letters", "Users.>", "k", []byte("x"), tables.ErrTable, true, true, true},
		{"a_value_past_the_limit", users, "k", make([]byte, tables.MaxValue+1), tables.ErrTooLarge, false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := tb.Put(ctx, c.table, c.key, c.val); !errors.Is(err, c.want) {
				t.Errorf("put: %v, want %v", err, c.want)
			}
			if c.getToo {
				if _, err := tb.Get(ctx, c.table, c.key); !errors.Is(err, c.want) {
					t.Errorf("get: %v, want %v", err, c.want)
				}
				if err := tb.Delete(ctx, c.table, c.key); !errors.Is(err, c.want) {
					t.Errorf("delete: %v, want %v", err, c.want)
				}
			}
			if c.rangeToo {
				if err := tb.Range(ctx, c.table, "", "", func(string, []byte) bool { return true }); !errors.Is(err, c.want) {
					t.Errorf("range: %v, want %v", err, c.want)
				}
			}
			if c.updateToo {
				err := tb.Update(ctx, func(tx tables.Tx) error {
					if err := tx.Put(users, "fine", []byte("x")); err != nil {
						return err
					}
					return tx.Put(c.table, c.key, c.val)
				})
				if !errors.Is(err, c.want) {
					t.Errorf("update: %v, want %v", err, c.want)
				}
			}
		})
	}
	want(t, tb, users, "fine", nil)
	want(t, tb, users, "k", nil)
}

func ranges(t *testing.T, b Backend) {
	tb := b.New(t)
	for _, k := range []string{"p/ann/b", "p/ann/a", "p/bob/a", "p/ann", "p/ann/c", "q", "active/ann", "p/ann/a/x"} {
		put(t, tb, users, k, "v:"+k)
	}
	for _, c := range []struct {
		prefix, after string
		want          string
	}{
		{"", "", "active/ann p/ann p/ann/a p/ann/a/x p/ann/b p/ann/c p/bob/a q"},
		{"p/ann/", "", "p/ann/a p/ann/a/x p/ann/b p/ann/c"},
		{"p/ann/", "a", "p/ann/a/x p/ann/b p/ann/c"},
		{"p/ann/", "a/x", "p/ann/b p/ann/c"},
		{"p/ann/", "bz", "p/ann/c"},
		{"p/ann/", "c", ""},
		{"p/ann", "", "p/ann p/ann/a p/ann/a/x p/ann/b p/ann/c"},
		{"p/", "ann/c", "p/bob/a"},
		{"", "p/bob/a", "q"},
		{"r", "", ""},
		{"p/carl/", "", ""},
	} {
		ks, vs := keys(t, tb, users, c.prefix, c.after)
		if strings.Join(ks, " ") != c.want {
			t.Errorf("prefix %q after %q: %q, want %q", c.prefix, c.after, ks, c.want)
		}
		for i := range ks {
			if vs[i] != "v:"+ks[i] {
				t.Errorf("prefix %q after %q: %q holds %q", c.prefix, c.after, ks[i], vs[i])
			}
		}
	}
	n := 0
	err := tb.Range(ctx, users, "p/", "", func(string, []byte) bool { n++; return n < 3 })
	if err != nil || n != 3 {
		t.Fatalf("a range told to stop after 3 keys: %d calls, %v", n, err)
	}
	stop := errors.New("enough")
	n = 0
	if err := tables.ForEach(ctx, tb, users, func(string, []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("ForEach stopped after %d calls with %v, want 1 and fn's error", n, err)
	}
}

func paging(t *testing.T, b Backend) {
	tb := b.New(t)
	const n = 3000
	// Two users' keys interleaved, written in updates of 500 (big atomic
	// updates), so the page's prefix must pick one user's out.
	for from := 0; from < 2*n; from += 500 {
		err := tb.Update(ctx, func(tx tables.Tx) error {
			for i := from; i < from+500; i++ {
				who := []string{"ann", "bob"}[i%2]
				if err := tx.Put(sessions, fmt.Sprintf("p/%s/%05d", who, i/2), []byte(strconv.Itoa(i/2))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("write keys %d to %d: %v", from, from+499, err)
		}
	}
	const page = 250
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > n/page+1 {
			t.Fatalf("still paging after %d pages", pages)
		}
		var this []string
		err := tb.Range(ctx, sessions, "p/ann/", after, func(k string, v []byte) bool {
			if i, _ := strconv.Atoi(strings.TrimPrefix(k, "p/ann/")); string(v) != strconv.Itoa(i) {
				t.Errorf("%q holds %q", k, v)
			}
			this = append(this, k)
			return len(this) < page
		})
		if err != nil {
			t.Fatalf("page after %q: %v", after, err)
		}
		got = append(got, this...)
		if len(this) < page {
			break
		}
		after = strings.TrimPrefix(this[len(this)-1], "p/ann/")
	}
	if len(got) != n {
		t.Fatalf("paged over %d keys, want %d", len(got), n)
	}
	for i, k := range got {
		if w := fmt.Sprintf("p/ann/%05d", i); k != w {
			t.Fatalf("key %d of the pages is %q, want %q", i, k, w)
		}
	}
}

func allOrNone(t *testing.T, b Backend) {
	tb := b.New(t)
	put(t, tb, users, "keep", "old")
	boom := errors.New("boom")
	err := tb.Update(ctx, func(tx tables.Tx) error {
		tx.Put(users, "a", []byte("1"))
		tx.Put(sessions, "b", []byte("2"))
		tx.Delete(users, "keep")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("an update whose fn failed: %v, want fn's error", err)
	}
	want(t, tb, users, "a", nil)
	want(t, tb, sessions, "b", nil)
	want(t, tb, users, "keep", "old")
	err = tb.Update(ctx, func(tx tables.Tx) error {
		for _, e := range []error{tx.Put(users, "a", []byte("1")), tx.Put(sessions, "b", []byte("2")), tx.Delete(users, "keep")} {
			if e != nil {
				return e
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want(t, tb, users, "a", "1")
	want(t, tb, sessions, "b", "2")
	want(t, tb, users, "keep", nil)
}

func ownWrites(t *testing.T, b Backend) {
	tb := b.New(t)
	put(t, tb, users, "a", "before")
	err := tb.Update(ctx, func(tx tables.Tx) error {
		if v, err := tx.Get(users, "a"); err != nil || string(v) != "before" {
			return fmt.Errorf("first read: %q, %v", v, err)
		}
		tx.Put(users, "a", []byte("mine"))
		if v, err := tx.Get(users, "a"); err != nil || string(v) != "mine" {
			return fmt.Errorf("read after its put: %q, %v", v, err)
		}
		tx.Delete(users, "a")
		if v, err := tx.Get(users, "a"); err != nil || v != nil {
			return fmt.Errorf("read after its delete: %q, %v", v, err)
		}
		tx.Put(users, "a", []byte("last"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want(t, tb, users, "a", "last")
}

// staleRead: an update reads a key, another writer changes it, the update
// writes it: the update is refused and the other writer's change stays.
// fn itself makes the other change (through a second handle), so the
// interleaving is certain.
func staleRead(t *testing.T, b Backend) {
	tb := b.New(t)
	other := b.Second(t, tb)
	put(t, tb, users, "n", "1")
	err := tb.Update(ctx, func(tx tables.Tx) error {
		v, err := tx.Get(users, "n")
		if err != nil {
			return err
		}
		if err := other.Put(ctx, users, "n", []byte("other")); err != nil {
			return err
		}
		tx.Put(sessions, "side", []byte("effect"))
		return tx.Put(users, "n", append(v, '+'))
	})
	if !errors.Is(err, tables.ErrConflict) {
		t.Fatalf("an update over a changed read: %v, want ErrConflict", err)
	}
	want(t, tb, users, "n", "other")
	want(t, tb, sessions, "side", nil)
}

func staleAbsence(t *testing.T, b Backend) {
	tb := b.New(t)
	other := b.Second(t, tb)
	err := tb.Update(ctx, func(tx tables.Tx) error {
		if v, err := tx.Get(users, "new"); err != nil || v != nil {
			return fmt.Errorf("read of an absent key: %q, %v", v, err)
		}
		if err := other.Put(ctx, users, "new", []byte("theirs")); err != nil {
			return err
		}
		return tx.Put(users, "new", []byte("mine"))
	})
	if !errors.Is(err, tables.ErrConflict) {
		t.Fatalf("creating a key another writer made meanwhile: %v, want ErrConflict", err)
	}
	want(t, tb, users, "new", "theirs")
}

func readOnlyChecked(t *testing.T, b Backend) {
	tb := b.New(t)
	other := b.Second(t, tb)
	put(t, tb, users, "invite", "open")
	err := tb.Update(ctx, func(tx tables.Tx) error {
		if _, err := tx.Get(users, "invite"); err != nil {
			return err
		}
		if err := other.Delete(ctx, users, "invite"); err != nil {
			return err
		}
		return tx.Put(sessions, "made", []byte("by the invite"))
	})
	if !errors.Is(err, tables.ErrConflict) {
		t.Fatalf("an update whose read-only key changed: %v, want ErrConflict", err)
	}
	want(t, tb, sessions, "made", nil)
	want(t, tb, users, "invite", nil)
	// Unchanged, the same update commits.
	put(t, tb, users, "invite", "open")
	err = tb.Update(ctx, func(tx tables.Tx) error {
		if _, err := tx.Get(users, "invite"); err != nil {
			return err
		}
		return tx.Put(sessions, "made", []byte("by the invite"))
	})
	if err != nil {
		t.Fatal(err)
	}
	want(t, tb, sessions, "made", "by the invite")
	want(t, tb, users, "invite", "open")
}

func recreate(t *testing.T, b Backend) {
	tb := b.New(t)
	put(t, tb, users, "k", "1")
	if err := tb.Delete(ctx, users, "k"); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		err := tb.Update(ctx, func(tx tables.Tx) error {
			if v, err := tx.Get(users, "k"); err != nil || v != nil {
				return fmt.Errorf("read of a deleted key: %q, %v", v, err)
			}
			return tx.Put(users, "k", []byte("again"))
		})
		if err != nil {
			t.Fatalf("round %d: make a deleted key again: %v", round, err)
		}
		want(t, tb, users, "k", "again")
		err = tb.Update(ctx, func(tx tables.Tx) error {
			if v, err := tx.Get(users, "k"); err != nil || string(v) != "again" {
				return fmt.Errorf("read: %q, %v", v, err)
			}
			return tx.Delete(users, "k")
		})
		if err != nil {
			t.Fatalf("round %d: delete it in an update: %v", round, err)
		}
		want(t, tb, users, "k", nil)
	}
}

func doRetries(t *testing.T, b Backend) {
	tb := b.New(t)
	other := b.Second(t, tb)
	put(t, tb, users, "n", "0")
	runs := 0
	err := tables.Do(ctx, tb, func(tx tables.Tx) error {
		runs++
		v, err := tx.Get(users, "n")
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(string(v))
		if runs == 1 { // another writer wins the first attempt's race
			if err := other.Put(ctx, users, "n", []byte("100")); err != nil {
				return err
			}
		}
		return tx.Put(users, "n", []byte(strconv.Itoa(n+1)))
	})
	if err != nil || runs != 2 {
		t.Fatalf("Do: %v after %d runs, want nil after 2", err, runs)
	}
	want(t, tb, users, "n", "101")
}

func doGivesUp(t *testing.T, b Backend) {
	tb := b.New(t)
	other := b.Second(t, tb)
	runs := 0
	err := tables.Do(ctx, tb, func(tx tables.Tx) error {
		runs++
		if _, err := tx.Get(users, "hot"); err != nil {
			return err
		}
		if err := other.Put(ctx, users, "hot", []byte(strconv.Itoa(runs))); err != nil {
			return err
		}
		return tx.Put(users, "hot", []byte("never"))
	})
	if !errors.Is(err, tables.ErrConflict) || runs != tables.MaxAttempts {
		t.Fatalf("Do over a key that always changes: %v after %d runs, want ErrConflict after %d", err, runs, tables.MaxAttempts)
	}
	want(t, tb, users, "hot", strconv.Itoa(tables.MaxAttempts))
}

func tooMany(t *testing.T, b Backend) {
	tb := b.New(t)
	for _, c := range []struct {
		name  string
		reads int
	}{{"writes", 0}, {"reads_and_writes", tables.MaxKeys / 2}} {
		err := tb.Update(ctx, func(tx tables.Tx) error {
			for i := range tables.MaxKeys + 1 {
				var err error
				if i < c.reads {
					_, err = tx.Get(users, fmt.Sprint("r", i))
				} else {
					err = tx.Put(users, fmt.Sprint("w", i), []byte("x"))
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, tables.ErrTooLarge) {
			t.Fatalf("%s: an update of %d keys: %v, want ErrTooLarge", c.name, tables.MaxKeys+1, err)
		}
	}
	if ks, _ := keys(t, tb, users, "", ""); len(ks) != 0 {
		t.Fatalf("a refused update wrote %d keys", len(ks))
	}
}

// barrier lets n goroutines wait for each other, each wait with a
// deadline.
type barrier struct {
	mu    sync.Mutex
	n     int
	count int
	ch    chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, ch: make(chan struct{})} }

func (b *barrier) wait(what string) error {
	b.mu.Lock()
	ch := b.ch
	b.count++
	if b.count == b.n {
		b.count, b.ch = 0, make(chan struct{})
		close(ch)
	}
	b.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("waited 30s for %d writers to %s", b.n, what)
	}
}

// rounds: in each round every writer reads the key (all see the same
// value: they wait for each other after the read), then tries to write
// it: exactly one commits, each other one is refused ErrConflict, and the
// key holds the winner's value.
func rounds(t *testing.T, b Backend) {
	tb := b.New(t)
	const writers, nrounds = 6, 15
	handles := []tables.Tables{tb}
	for len(handles) < writers {
		handles = append(handles, b.Second(t, tb))
	}
	put(t, tb, users, "hot", "round 0")
	bar := newBarrier(writers)
	type result struct {
		writer int
		err    error
	}
	results := make([][]result, nrounds)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range nrounds {
				if err := bar.wait(fmt.Sprintf("start round %d", r)); err != nil {
					t.Error(err)
					return
				}
				read := false
				err := handles[w].Update(ctx, func(tx tables.Tx) error {
					v, err := tx.Get(users, "hot")
					if err != nil {
						return err
					}
					if string(v) != fmt.Sprint("round ", r) {
						return fmt.Errorf("writer %d read %q in round %d", w, v, r)
					}
					read = true
					if err := bar.wait(fmt.Sprintf("read in round %d", r)); err != nil {
						return err
					}
					return tx.Put(users, "hot", []byte(fmt.Sprint("round ", r+1)))
				})
				if !read {
					t.Errorf("writer %d, round %d: %v", w, r, err)
					return
				}
				mu.Lock()
				results[r] = append(results[r], result{w, err})
				mu.Unlock()
				// Everyone has answered before the next round reads.
				if err := bar.wait(fmt.Sprintf("finish round %d", r)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for r, res := range results {
		won := 0
		for _, x := range res {
			switch {
			case x.err == nil:
				won++
			case !errors.Is(x.err, tables.ErrConflict):
				t.Errorf("round %d: writer %d: %v, want nil or ErrConflict", r, x.writer, x.err)
			}
		}
		if won != 1 || len(res) != writers {
			t.Errorf("round %d: %d of %d writers won, want exactly 1", r, won, len(res))
		}
	}
	want(t, tb, users, "hot", fmt.Sprint("round ", nrounds))
}

// counter: writers increment one key through Do, with no coordination:
// every increment Do reports committed is in the final count, none
// overwritten by another writer's. Under a storm of writers on one key
// Do may give up (ErrConflict after MaxAttempts, and only that), which
// loses nothing: that increment was never acknowledged.
func counter(t *testing.T, b Backend) {
	tb := b.New(t)
	const writers, each = 6, 25
	var wg sync.WaitGroup
	var committed, gaveUp, retried atomic.Int64
	for range writers {
		h := b.Second(t, tb)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				first := true
				err := tables.Do(ctx, h, func(tx tables.Tx) error {
					if !first {
						retried.Add(1)
					}
					first = false
					v, err := tx.Get(users, "n")
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(v))
					return tx.Put(users, "n", []byte(strconv.Itoa(n+1)))
				})
				switch {
				case err == nil:
					committed.Add(1)
				case errors.Is(err, tables.ErrConflict):
					gaveUp.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if committed.Load() == 0 {
		t.Fatal("no increment committed")
	}
	want(t, tb, users, "n", strconv.FormatInt(committed.Load(), 10))
	t.Logf("%d increments committed, %d given up, %d attempts retried after a lost race", committed.Load(), gaveUp.Load(), retried.Load())
}

func second(t *testing.T, b Backend) {
	tb := b.New(t)
	other := b.Second(t, tb)
	put(t, tb, users, "ann", "by one")
	want(t, other, users, "ann", "by one")
	put(t, other, users, "ann", "by two")
	want(t, tb, users, "ann", "by two")
	if err := other.Delete(ctx, users, "ann"); err != nil {
		t.Fatal(err)
	}
	want(t, tb, users, "ann", nil)
	if err := other.Update(ctx, func(tx tables.Tx) error { return tx.Put(sessions, "s", []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	if ks, vs := keys(t, tb, sessions, "", ""); len(ks) != 1 || vs[0] != "x" {
		t.Fatalf("the first handle ranges over %q %q", ks, vs)
	}
}

func reopen(t *testing.T, b Backend) {
	tb := b.New(t)
	put(t, tb, users, "ann", "kept")
	put(t, tb, users, "gone", "x")
	if err := tb.Delete(ctx, users, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := tb.Update(ctx, func(tx tables.Tx) error { return tx.Put(sessions, "s", []byte("kept too")) }); err != nil {
		t.Fatal(err)
	}
	tb = b.Reopen(t, tb)
	want(t, tb, users, "ann", "kept")
	want(t, tb, users, "gone", nil)
	want(t, tb, sessions, "s", "kept too")
	if ks, _ := keys(t, tb, users, "", ""); len(ks) != 1 {
		t.Fatalf("after a reopen the table holds %q", ks)
	}
}

func endedContext(t *testing.T, b Backend) {
	tb := b.New(t)
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := tb.Put(done, users, "a", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("put: %v, want context.Canceled", err)
	}
	if _, err := tb.Get(done, users, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("get: %v, want context.Canceled", err)
	}
	if err := tb.Range(done, users, "", "", func(string, []byte) bool { return true }); !errors.Is(err, context.Canceled) {
		t.Errorf("range: %v, want context.Canceled", err)
	}
	err := tb.Update(done, func(tx tables.Tx) error { return tx.Put(users, "b", []byte("x")) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("update: %v, want context.Canceled", err)
	}
	want(t, tb, users, "a", nil)
	want(t, tb, users, "b", nil)
}
