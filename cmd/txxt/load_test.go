package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"txxt/lab"
)

// TestMain lets `txxt load --spawn` start this test binary as the server:
// the child sees spawnEnv and runs txxt itself.
func TestMain(m *testing.M) {
	if os.Getenv(spawnEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
