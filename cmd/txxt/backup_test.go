package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"txxt/lab"
)

// txxt backup copies a running server's save file while two clients write;
// the copy verifies, and a server started on it has exactly the commands
// acknowledged up to the copy's revision, none after.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := spawnTest(t, filepath.Join(dir, "live.db"))
	target, err := lab.Login(ctx, srv.url, "demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	// Two writers until the server stops. A writer that ends before it
	// (a refusal, an answer that does not come) sends why it ended.
	var mu sync.Mutex
	var all []acked
	var wg sync.WaitGroup
	var stopped atomic.Bool
	ended := make(chan error, 2)
	for w := range 2 {
		wg.Go(func() {
			err := write(srv.url, target.Token, fmt.Sprint("w", w), func(a acked) { mu.Lock(); all = append(all, a); mu.Unlock() })
			if !stopped.Load() {
				ended <- err
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(all) }
	for deadline := time.Now().Add(time.Minute); count() < 50; time.Sleep(10 * time.Millisecond) { // some writes first
		select {
		case err := <-ended:
			t.Fatalf("a writer ended after %d acknowledged writes, before the backup: %v", count(), err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for 50 acknowledged writes: %d", count())
		}
	}

	out := filepath.Join(dir, "backup.db")
	var stdout, stderr syncBuffer
	if err := run(ctx, []string{"backup", "--url", srv.url, "--user", "demo", out}, env(nil), strings.NewReader("demo\n"), &stdout, &stderr); err != nil {
		t.Fatalf("backup: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	m := regexp.MustCompile(`backup of revision (\d+) written`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("backup printed:\n%s", stdout.String())
	}
	rev, _ := strconv.ParseUint(m[1], 10, 64)
	select {
	case err := <-ended:
		t.Fatalf("a writer ended during the backup: %v", err)
	default:
	}
	stopped.Store(true)
	srv.stop() // the writers end with their connections
	waitGroup(t, &wg, 2*answerWait, "the writers to end with the server")
	if _, err := os.Stat(out + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the partial copy is left behind: %v", err)
	}

	stdout.Reset()
	if err := run(ctx, []string{"check", out}, env(nil), nil, &stdout, &stderr); err != nil || !strings.HasSuffix(stdout.String(), "ok\n") {
		t.Fatalf("check of the backup: %v\n%s", err, stdout.String())
	}

	// Restore: serve the copy.
	restored := spawnTest(t, out)
	login, err := lab.Login(ctx, restored.url, "demo", "demo") // the tables came along
	if err != nil {
		t.Fatal(err)
	}
	names, got := services(t, restored.url, login.Token)
	if got != rev {
		t.Fatalf("the restored server is at revision %d, the backup said %d", got, rev)
	}
	before, after := 0, 0
	for _, a := range all {
		switch {
		case a.rev <= rev && !names[a.name]:
			t.Fatalf("%s, acknowledged at %d, is not in the backup of revision %d", a.name, a.rev, rev)
		case a.rev > rev && names[a.name]:
			t.Fatalf("%s, acknowledged at %d, is in the backup of revision %d", a.name, a.rev, rev)
		case a.rev <= rev:
			before++
		default:
			after++
		}
	}
	if after == 0 {
		t.Logf("no write landed after the backup (%d before)", before)
	}
	t.Logf("backup at revision %d: %d acknowledged commands in it, %d after it", rev, before, after)
}

// A damaged save file, or another program's file, is refused with exit
// status 4 by serve, check and backup, and is left as it was.
func TestDamagedFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	newSaveFile(t, good)
	var stdout, stderr syncBuffer
	if err := run(context.Background(), []string{"check", good}, env(nil), nil, &stdout, &stderr); err != nil {
		t.Fatalf("check of a sound file: %v", err)
	}
	raw, _ := os.ReadFile(good)
	files := map[string][]byte{
		"truncated.db": raw[:len(raw)/2],
		"notes.txt":    []byte(strings.Repeat("not a save file\n", 1000)),
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		os.WriteFile(path, content, 0o600)
		for _, args := range [][]string{
			{"serve", "--addr", "127.0.0.1:0", "--data", path},
			{"check", path},
			{"backup", "--data", path, filepath.Join(dir, "copy.db")},
		} {
			stderr.Reset()
			// Bounded: a serve that took the file would run until its context ends.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := run(ctx, args, env(nil), nil, &stdout, &stderr)
			cancel()
			var code exitCode
			if !errors.As(err, &code) || code != exitDamaged || !strings.Contains(err.Error(), "left as it is") {
				t.Errorf("%s %s: %v (want exit status 4)", args[0], name, err)
			}
			if now, _ := os.ReadFile(path); string(now) != string(content) {
				t.Errorf("%s %s changed the file", args[0], name)
			}
		}
	}
}
