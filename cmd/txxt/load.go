package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"txxt/lab"
)

const loadUsage = `Usage: txxt load SCENARIO [flags]

Scenarios:
  create   each client sends --count CreateTask, one after another (the original smoke test: 1 client, 40)
  mixed    clients connect, send a burst of moves/schedules/resizes, disconnect, resume with since, for --duration
  fanout   --clients writers at --rate each, --readers readers: time from a command sent to its event at every reader
  slow     fanout, plus one client that never reads: proves it hurts no one
  connect  --count clients connect, --clients at once: time from dial to snapshot

The server is --url (logging in as --user/--password), or with --spawn a
new txxt serve on a free port with a temporary save file. The run's tasks
go into a service of its own, "txxt load DATE TIME"; on a server of --url
they are deleted when the run ends (also on Ctrl-C or an error, within a
minute), unless --keep.
`

func runLoad(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	// The scenario comes first; without one, the flags are still parsed,
	// so that --help shows them.
	scenario, rest := "", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		scenario, rest = args[0], args[1:]
	}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg lab.Config
	cfg.Scenario = scenario
	url := fs.String("url", envOr(getenv, "TXXT_URL", "http://127.0.0.1:3000"), "the server (env TXXT_URL)")
	user := fs.String("user", "demo", "log in as")
	password := fs.String("password", envOr(getenv, "TXXT_PASSWORD", "demo"), "the password (env TXXT_PASSWORD)")
	spawn := fs.Bool("spawn", false, "start a txxt serve of our own on a free port, with a temporary save file")
	spawnArgs := fs.String("serve-args", "", "with --spawn: more flags for txxt serve, e.g. \"--commit-per-command\"")
	fs.BoolVar(&cfg.Keep, "keep", false, "leave the run's tasks on the server (--url); without it they are deleted when the run ends, also on Ctrl-C or an error")
	fs.IntVar(&cfg.Clients, "clients", 0, "clients (create, mixed), writers (fanout, slow), at once (connect); default per scenario")
	fs.IntVar(&cfg.Readers, "readers", 0, "readers (fanout, slow; default 10)")
	fs.IntVar(&cfg.Count, "count", 0, "commands per client (create; default 40), connections (connect; default 500)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "commands a second per writer (fanout, slow default 100; create: 0 = each after the last answer)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long (mixed, fanout, slow; default 5s)")
	fs.IntVar(&cfg.Burst, "burst", 0, "commands per connection before reconnecting (mixed; default 20)")
	fs.IntVar(&cfg.ConnectParallel, "connect-parallel", 0, "readers connecting at once (fanout, slow; default 64)")
	out := fs.String("out", "", "write client-metrics.json, baseline-summary.json and report.html here")
	compare := fs.String("compare", "", "a baseline-summary.json to compare with")
	maxReg := fs.String("max-regression", "10%", "with --compare: how much worse p95 and throughput may be")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := parseFlags(fs, rest, stdout); err != nil {
		return err
	}
	switch {
	case scenario == "":
		fs.Usage()
		return exitError{fmt.Errorf("which scenario? one of %s", strings.Join(lab.Scenarios, ", ")), 2}
	case !slices.Contains(lab.Scenarios, scenario):
		fs.Usage()
		return exitError{fmt.Errorf("unknown scenario %q (have %s)", scenario, strings.Join(lab.Scenarios, ", ")), 2}
	case fs.NArg() > 0:
		fs.Usage()
		return exitError{fmt.Errorf("one scenario at a time: %q is one too many", fs.Arg(0)), 2}
	}
	limit, err := parsePercent(*maxReg)
	if err != nil {
		return err
	}
	var base *lab.Baseline
	if *compare != "" {
		b, err := lab.ReadBaseline(*compare)
		if err != nil {
			return err
		}
		base = &b
	}
	if !*quiet {
		cfg.Progress = stderr
	}

	// Every client is a descriptor here, and with --spawn one more in
	// the server, which inherits the limit raised here.
	if need := uint64(cfg.Readers + cfg.Clients + fileReserve); need > 1024 {
		if _, got, err := raiseFileLimit(need); err == nil && got < need {
			fmt.Fprintf(stderr, "load: the open files limit is %d, below the %d this run needs: raise it (ulimit -n) or run fewer clients\n", got, need)
		}
	}
	pid := 0
	if *spawn {
		srv, err := spawnServer(ctx, strings.Fields(*spawnArgs), stderr)
		if err != nil {
			return err
		}
		defer srv.stop()
		*url, *user, *password, pid = srv.url, "demo", "demo", srv.cmd.Process.Pid
		cfg.Keep = true // the server and its file are thrown away whole
	}
	target, err := lab.Login(ctx, *url, *user, *password)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = os.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	machine, err := lab.MeasureMachine(dir)
	if err != nil {
		return fmt.Errorf("measuring the fsync floor in %s: %w", dir, err)
	}
	var stages map[string]lab.Summary
	cfg.Finished = func() { // before the run's tasks are deleted, and also after Ctrl-C
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var serr error
		if stages, serr = lab.ScrapeStages(sctx, target.URL); serr != nil {
			fmt.Fprintf(stderr, "server stages not read: %v\n", serr)
		}
	}
	res, err := lab.Run(ctx, target, cfg)
	if err != nil {
		return err
	}
	var rss int64
	var cpu float64
	if pid != 0 {
		rss, cpu = lab.ProcessStats(pid)
	}
	b := lab.NewBaseline(res, machine, stages, rss, cpu)
	printSummary(stdout, res, b)
	if !*spawn {
		printCleanup(stdout, res.Cleanup)
	}
	if ctx.Err() != nil {
		return errors.New("interrupted: the figures above are of the part that ran")
	}
	if *out != "" {
		if err := lab.WriteOut(*out, res, b); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "written: %s\n", filepath.Join(*out, "{client-metrics.json,baseline-summary.json,report.html}"))
	}
	if base != nil {
		if bad := lab.Compare(*base, b, limit); len(bad) > 0 {
			for _, line := range bad {
				fmt.Fprintln(stdout, "REGRESSION:", line)
			}
			return exitCode(3)
		}
		fmt.Fprintf(stdout, "compared with %s: within %s\n", *compare, *maxReg)
	}
	return nil
}

// parsePercent reads "10%" or "0.1".
func parsePercent(s string) (float64, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		return v / 100, err
	}
	return strconv.ParseFloat(s, 64)
}

func printSummary(w io.Writer, res *lab.Result, b lab.Baseline) {
	fmt.Fprintf(w, "txxt load %s: %.3f s, %d done, %.1f/s, %d errors\n", res.Config.Scenario, res.Elapsed, res.Commands, res.Throughput, res.Errors)
	if res.FirstError != "" {
		fmt.Fprintf(w, "  first error: %s\n", res.FirstError)
	}
	row := func(name string, s lab.Summary) {
		fmt.Fprintf(w, "  %-20s %8d %10.0f %10.0f %10.0f %10.0f\n", name, s.Samples, s.P50, s.P95, s.P99, s.Max)
	}
	fmt.Fprintf(w, "  %-20s %8s %10s %10s %10s %10s\n", "µs", "samples", "p50", "p95", "p99", "max")
	if res.RTT.Samples > 0 {
		row("round trip", res.RTT)
	}
	if res.Fanout != nil {
		row("fan-out", *res.Fanout)
	}
	if res.Connect != nil {
		row("connect → snapshot", *res.Connect)
	}
	names := make([]string, 0, len(b.Server.Stages))
	for k := range b.Server.Stages {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if s := b.Server.Stages[k]; s.Samples > 0 {
			row("server "+k, s)
		}
	}
	if res.ConnectAll > 0 {
		fmt.Fprintf(w, "  %d readers connected in %.2f s, %d at a time\n", res.Config.Readers, res.ConnectAll, min(res.Config.ConnectParallel, res.Config.Readers))
	}
	if res.Config.Scenario == "mixed" {
		fmt.Fprintf(w, "  resumes %d, revision gaps %d\n", res.Resumes, res.Gaps)
	} else if res.Fanout != nil {
		fmt.Fprintf(w, "  revision gaps at the readers %d\n", res.Gaps)
	}
	if res.StalledClosed != nil {
		fmt.Fprintf(w, "  the client that stopped reading was closed by the server: %v\n", *res.StalledClosed)
	}
	if b.Server.RSSBytes > 0 {
		fmt.Fprintf(w, "  server: %.1f MiB resident, %.2f s CPU\n", float64(b.Server.RSSBytes)/(1<<20), b.Server.CPUSeconds)
	}
	fmt.Fprintf(w, "  machine: %d CPUs, %s, fsync floor %.0f µs\n", b.Machine.CPUs, b.Machine.Go, b.Machine.FsyncFloorUS)
}

// printCleanup says what became of the run's tasks on a server it shares.
func printCleanup(w io.Writer, c lab.Cleanup) {
	if c.Kept {
		fmt.Fprintf(w, "  kept: the run's %d tasks, in service %q (--keep)\n", c.Tasks, c.Service)
		return
	}
	fmt.Fprintf(w, "  tidied up: the run's %d tasks deleted; service %q is left empty and archived\n", c.Tasks, c.Service)
}

// spawned is a txxt serve this command started.
type spawned struct {
	cmd *exec.Cmd
	url string
	dir string // a temporary directory to remove at stop, or ""
}

// spawnServer starts this binary's `serve --demo` on a free loopback port
// with a save file in a new temporary directory.
func spawnServer(ctx context.Context, extra []string, stderr io.Writer) (*spawned, error) {
	dir, err := os.MkdirTemp("", "txxt-load-")
	if err != nil {
		return nil, err
	}
	s, err := spawnServerOn(ctx, filepath.Join(dir, "load.db"), extra, stderr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.dir = dir
	return s, nil
}

// spawnServerOn starts this binary's `serve --demo` on a free loopback port
// with the save file data (seeded only if new), with no limit on the
// connections from one address, of one user or in all, no command budget to speak
// of (every client of the load is the demo login on 127.0.0.1), and none
// on a team's tasks and services (a long load creates more than a real
// team holds); extra, after these, may set them again.
func spawnServerOn(ctx context.Context, data string, extra []string, stderr io.Writer) (*spawned, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data", data, "--max-conns-per-host", "0", "--max-conns-per-user", "0", "--max-conns", "0", "--command-rate", "1000000",
		"--max-tasks-per-team", "-1", "--max-services-per-team", "-1"}, extra...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), spawnEnv+"=1")
	cmd.Stderr = stderr
	dieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &spawned{cmd: cmd}
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`at (http://[0-9.:]+)/`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			s.stop()
			return nil, errors.New("the spawned server ended before it served")
		}
		s.url = u
		return s, nil
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, errors.New("the spawned server did not start within 60 s")
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

func (s *spawned) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// spawnEnv marks a process started by --spawn; tests use it to run the
// test binary as txxt itself.
const spawnEnv = "TXXT_SPAWNED"
