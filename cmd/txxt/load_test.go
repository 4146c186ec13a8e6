package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/lab"
	"txxt/wire"
	"txxt/world"
)

// TestMain lets `txxt load --spawn` start this test binary as the server:
// the child sees spawnEnv and runs txxt itself.
func TestMain(m *testing.M) {
	if os.Getenv(spawnEnv) == "1" {
		if err := lowerFileLimit(os.Getenv(testFilesEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "txxt:", err)
			os.Exit(1)
		}
		ctx, stop := signalContext()
		err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "txxt:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// load runs txxt load with args; it must end within two minutes (its
// runs are of a second or a few dozen commands).
func load(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"load"}, args...), env(nil), strings.NewReader(""), &out, &errb)
	}()
	err := recv(t, done, 2*time.Minute+30*time.Second, fmt.Sprintf("txxt load %s to end", strings.Join(args, " ")))
	if err != nil {
		t.Logf("stderr:\n%s", errb.String())
	}
	return out.String(), err
}

// A short --spawn run of every scenario, each against a server of its own.
func TestLoadScenarios(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"create", "--count", "10"}, []string{"10 done", "round trip", "server commit"}},
		{[]string{"mixed", "--duration", "1s", "--clients", "2", "--burst", "5"}, []string{"resumes", "revision gaps 0"}},
		{[]string{"fanout", "--duration", "1s", "--readers", "3", "--rate", "50"}, []string{"fan-out", "revision gaps at the readers 0"}},
		{[]string{"slow", "--duration", "1s", "--readers", "2", "--rate", "50"}, []string{"fan-out", "stopped reading"}},
		{[]string{"connect", "--count", "20", "--clients", "5"}, []string{"20 done", "connect → snapshot"}},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			out, err := load(t, append(tc.args, "--spawn", "--quiet")...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, " 0 errors") {
				t.Errorf("errors:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("summary lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// --out writes the three files, and --compare gates on them.
func TestLoadOutAndCompare(t *testing.T) {
	dir := t.TempDir()
	if out, err := load(t, "create", "--count", "20", "--spawn", "--quiet", "--out", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var b lab.Baseline
	raw, err := os.ReadFile(filepath.Join(dir, "baseline-summary.json"))
	if err != nil || json.Unmarshal(raw, &b) != nil {
		t.Fatalf("baseline-summary.json: %v %s", err, raw)
	}
	// The schema's figures are there and make sense.
	var generic map[string]any
	json.Unmarshal(raw, &generic)
	for _, k := range []string{"scenario", "config", "machine", "client", "server"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("baseline-summary.json lacks %q", k)
		}
	}
	if b.Scenario != "create" || b.Client.Commands != 20 || b.Client.RTT.P95 <= 0 || b.Client.Throughput <= 0 ||
		b.Machine.CPUs < 1 || b.Machine.FsyncFloorUS <= 0 || b.Server.Stages["commit"].Samples < 1 || b.Server.RSSBytes <= 0 {
		t.Fatalf("baseline %+v", b)
	}
	var res lab.Result
	raw, _ = os.ReadFile(filepath.Join(dir, "client-metrics.json"))
	if err := json.Unmarshal(raw, &res); err != nil || res.RTT.Samples != 20 || len(res.RTTHist) == 0 || len(res.RTTSeries) == 0 {
		t.Fatalf("client-metrics.json: %v %+v", err, res)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(html), "<svg") || !strings.Contains(string(html), "round trip") {
		t.Fatal("report.html has no charts")
	}

	write := func(name string, b lab.Baseline) string {
		p := filepath.Join(dir, name)
		raw, _ := json.Marshal(b)
		os.WriteFile(p, raw, 0o644)
		return p
	}
	// A baseline far better than any run: the gate trips.
	better := b
	better.Client.RTT.P95, better.Client.Throughput = 1, 1e9
	out, err := load(t, "create", "--count", "20", "--spawn", "--quiet", "--compare", write("better.json", better))
	var ec exitCode
	if !errors.As(err, &ec) || ec != 3 || !strings.Contains(out, "REGRESSION: p95 round trip") || !strings.Contains(out, "REGRESSION: throughput") {
		t.Fatalf("a regression passed the gate: %v\n%s", err, out)
	}
	// A baseline no run can be worse than: it passes.
	worse := b
	worse.Client.RTT.P95, worse.Client.Throughput = 1e12, 1e-9
	if out, err := load(t, "create", "--count", "20", "--spawn", "--quiet", "--compare", write("worse.json", worse), "--max-regression", "10%"); err != nil || !strings.Contains(out, "within 10%") {
		t.Fatalf("an equal-or-better run failed the gate: %v\n%s", err, out)
	}
}

// startServe runs `txxt serve` with args in this process on a free port
// and returns its address; the server stops when the test ends.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), env(nil), strings.NewReader(""), &stdout, &stderr)
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30 s of its context's end")
		}
	})
	addr := regexp.MustCompile(`serving .* at (http://[0-9.:]+)/`)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := addr.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve ended before it served: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no address within 60 s:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
}

// snapshotOf returns the world as a new game connection to url receives it.
func snapshotOf(t *testing.T, url, token string) *world.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/game", &websocket.DialOptions{
		Subprotocols: []string{wire.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	for {
		_, raw, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for a snapshot: %v", err)
		}
		if f, err := wire.DecodeServerFrame(raw, true); err == nil && f.Type == wire.TypeSnapshot {
			return f.Snapshot
		}
	}
}

func taskIDs(s *world.State) map[world.ID]string {
	ids := map[world.ID]string{}
	for _, task := range s.Tasks {
		ids[task.ID] = task.Title
	}
	return ids
}

// loadServices returns the services txxt load made, by id.
func loadServices(s *world.State) map[world.ID]string {
	m := map[world.ID]string{}
	for _, svc := range s.Services {
		if strings.HasPrefix(svc.Name, "txxt load ") {
			m[svc.ID] = svc.Name
		}
	}
	return m
}

// txxt load against a server it did not start (--url) files its tasks
// under a service of its own and deletes every one when it ends: after a
// full run, after Ctrl-C, and whatever the scenario; --keep leaves them.
// Each run is checked over a game connection of the test's own: the
// server's tasks are exactly those it had before the run.
func TestLoadOnASharedServerLeavesNoTask(t *testing.T) {
	// The runs are one user's, as fast as the machine goes: a budget no
	// machine reaches, so that what is checked is the tidying, not the
	// machine's speed against the default 200 commands a second.
	base := startServe(t, "--demo", "--demo-tasks", "20", "--command-rate", "1000000", "--data", filepath.Join(t.TempDir(), "shared.db"))
	login, err := lab.Login(context.Background(), base, "demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	before := taskIDs(snapshotOf(t, base, login.Token))
	if len(before) != 20 {
		t.Fatalf("the demo has %d tasks, want 20", len(before))
	}
	same := func(what string) *world.State {
		t.Helper()
		s := snapshotOf(t, base, login.Token)
		now := taskIDs(s)
		for id, title := range now {
			if _, ok := before[id]; !ok {
				t.Errorf("after %s: task %q (%s) is left on the server", what, title, id)
			}
		}
		if len(now) != len(before) {
			t.Errorf("after %s: %d tasks, want the %d of before", what, len(now), len(before))
		}
		return s
	}

	for _, args := range [][]string{
		{"create", "--count", "15"},
		{"mixed", "--duration", "1s", "--clients", "2", "--burst", "5"},
		{"fanout", "--duration", "1s", "--readers", "2", "--rate", "50", "--clients", "2"},
	} {
		out, err := load(t, append(args, "--url", base, "--quiet")...)
		if err != nil {
			t.Fatalf("load %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(out, " 0 errors") || !regexp.MustCompile(`tidied up: the run's [1-9]\d* tasks deleted; service "txxt load \d{4}-\d\d-\d\d \d\d:\d\d:\d\d" is left empty and archived`).MatchString(out) {
			t.Errorf("load %v:\n%s", args, out)
		}
		same("load " + args[0])
	}
	s := snapshotOf(t, base, login.Token)
	if n := len(loadServices(s)); n != 3 {
		t.Errorf("%d services made by txxt load, want one a run", n)
	}
	for _, svc := range s.Services {
		if _, ours := loadServices(s)[svc.ID]; ours && !svc.Archived {
			t.Errorf("service %q of a finished run is not archived", svc.Name)
		}
	}

	// --keep: its tasks stay, in its service.
	out, err := load(t, "create", "--count", "5", "--url", base, "--quiet", "--keep")
	if err != nil || !strings.Contains(out, "kept: the run's 5 tasks, in service \"txxt load ") {
		t.Fatalf("load --keep: %v\n%s", err, out)
	}
	s = snapshotOf(t, base, login.Token)
	kept := 0
	for _, task := range s.Tasks {
		if _, ok := before[task.ID]; !ok {
			if _, ours := loadServices(s)[task.Service]; !ours {
				t.Errorf("a kept task is not in a service of txxt load: %+v", task)
			}
			kept++
		}
	}
	if kept != 5 {
		t.Fatalf("%d tasks kept, want 5", kept)
	}
	before = taskIDs(s)

	// Ctrl-C in the middle of a run: txxt load, a process of its own, gets
	// SIGINT; it stops, deletes what it made, says so and that it was
	// interrupted, and exits with status 1.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, "load", "create", "--count", "100000", "--rate", "100", "--url", base, "--quiet")
	cmd.Env = append(os.Environ(), spawnEnv+"=1")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if n := len(snapshotOf(t, base, login.Token).Tasks); n >= len(before)+20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run made no 20 tasks within 60 s:\n%s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("an interrupted load: %v\n%s", err, stderr.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatal("load did not end within 90 s of SIGINT (its cleanup has a minute)")
	}
	if !strings.Contains(stdout.String(), "tidied up: the run's ") {
		t.Errorf("the interrupted run does not say it tidied up:\n%s\n%s", stdout.String(), stderr.String())
	}
	same("an interrupted load")
}
