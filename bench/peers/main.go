// Command peers compares txxt's fan-out with centrifuge's (the engine of
// Centrifugo, in memory, not durable) and with a bare broadcast hub on
// coder/websocket, the floor of what a Go server here can do. Each server
// runs as its own process; one load generator drives all three with the
// same client cost: N readers connected, W writers sending R 31-byte
// messages a second in total, each message timed from its send to its
// arrival at every reader. The variants run alternately (txxt, centrifuge,
// hub, txxt, …) for several rounds; the report is the medians over rounds
// and the ratios txxt ÷ centrifuge, as Markdown and as JSON.
//
//	cd bench/peers && go run . --rounds 3
//
// It is a module of its own so that centrifuge never becomes a dependency
// of txxt. docs/BENCHMARKS.md explains every column.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// childEnv selects, when set, the server this program runs instead of the
// load (the generator starts itself again as each of its servers).
const childEnv = "PEERS_SERVE"

func main() {
	if name := os.Getenv(childEnv); name != "" {
		if err := serveChild(name); err != nil {
			fmt.Fprintln(os.Stderr, "peers:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func serveChild(name string) error {
	switch name {
	case "centrifuge":
		return serveCentrifuge()
	case "hub":
		return serveHub()
	}
	return fmt.Errorf("%s=%q: no such server (centrifuge, hub)", childEnv, name)
}

type options struct {
	rounds     int
	cells      []cell
	variants   []variant
	others     []string // the names of the --txxt-also variants
	load       loadConfig
	jsonPath   string
	cpuProfile string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rounds := fs.Int("rounds", 3, "rounds; each runs every cell with every variant, in turn")
	readers := fs.String("readers", "100,1000,5000", "reader counts, comma-separated")
	rates := fs.String("rates", "20,200", "commands a second in total, comma-separated")
	names := fs.String("variants", "txxt,centrifuge,hub", "servers to run, in this order within a cell")
	writers := fs.Int("writers", 4, "writers; each sends rate/writers a second (txxt allows 200 a second per connection)")
	duration := fs.Duration("duration", 5*time.Second, "how long the writers send, per cell")
	parallel := fs.Int("connect-parallel", 64, "readers connecting at once")
	settle := fs.Duration("settle", time.Second, "idle time before each memory reading")
	drain := fs.Duration("drain", 15*time.Second, "longest wait for the last messages after sending ends")
	src := fs.String("txxt-src", "../..", "txxt's source tree, built with go build ./cmd/txxt")
	bin := fs.String("txxt-bin", "", "a txxt binary to run instead of building one")
	others := fs.String("txxt-also", "", "more txxt binaries to run beside it, as NAME=PATH,…: each is the variant txxt-NAME, run right after txxt (to compare two builds in one run)")
	jsonPath := fs.String("json", "peers.json", "where to write every run and the medians as JSON (empty: nowhere)")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile here (the servers': txxt's --pprof)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{rounds: *rounds, jsonPath: *jsonPath, cpuProfile: *cpuProfile,
		load: loadConfig{writers: *writers, duration: *duration, parallel: *parallel, settle: *settle, drain: *drain}}
	rs, err := ints(*readers)
	if err != nil {
		return o, fmt.Errorf("--readers: %w", err)
	}
	ws, err := ints(*rates)
	if err != nil {
		return o, fmt.Errorf("--rates: %w", err)
	}
	for _, r := range rs {
		for _, w := range ws {
			o.cells = append(o.cells, cell{Readers: r, Rate: w})
		}
	}
	source, err := filepath.Abs(*src)
	if err != nil {
		return o, err
	}
	for _, n := range strings.Split(*names, ",") {
		switch strings.TrimSpace(n) {
		case "txxt":
			o.variants = append(o.variants, txxtVariant(source, *bin))
			if *others == "" {
				continue
			}
			for _, nb := range strings.Split(*others, ",") {
				name, path, ok := strings.Cut(nb, "=")
				if !ok || name == "" || path == "" {
					return o, fmt.Errorf("--txxt-also: %q is not NAME=PATH", nb)
				}
				v := txxtVariant(source, path)
				v.name = "txxt-" + name
				o.variants = append(o.variants, v)
				o.others = append(o.others, v.name)
			}
		case "centrifuge":
			o.variants = append(o.variants, centrifugeVariant())
		case "hub":
			o.variants = append(o.variants, hubVariant())
		default:
			return o, fmt.Errorf("--variants: %q is not txxt, centrifuge or hub", n)
		}
	}
	switch {
	case o.rounds < 1:
		return o, fmt.Errorf("--rounds must be ≥ 1")
	case o.load.writers < 1 || o.load.parallel < 1:
		return o, fmt.Errorf("--writers and --connect-parallel must be ≥ 1")
	case o.load.duration <= 0:
		return o, fmt.Errorf("--duration must be > 0")
	}
	return o, nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a count ≥ 1", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	need := uint64(slices.MaxFunc(o.cells, func(a, b cell) int { return a.Readers - b.Readers }).Readers + o.load.writers + 64)
	limit, err := raiseFileLimit(need)
	if err != nil {
		return fmt.Errorf("raise the file limit: %w", err)
	}
	if limit < need {
		fmt.Fprintf(stderr, "peers: the file limit is %d, below the %d sockets the largest cell needs\n", limit, need)
	}
	dir, err := os.MkdirTemp("", "peers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for _, v := range o.variants {
		if v.close != nil {
			defer v.close()
		}
	}
	var all []result
	for round := 1; round <= o.rounds; round++ {
		for _, c := range o.cells {
			for _, v := range o.variants {
				runDir := filepath.Join(dir, fmt.Sprintf("%s-%d-%d-%d", v.name, c.Readers, c.Rate, round))
				if err := os.Mkdir(runDir, 0o700); err != nil {
					return err
				}
				res, err := runCell(ctx, v, c, o.load, runDir)
				if err != nil {
					return fmt.Errorf("round %d: %w", round, err)
				}
				res.Round = round
				all = append(all, res)
				fmt.Fprintf(stderr, "round %d %-10s %-11s p50 %7.2f ms  p99 %7.2f ms  cpu %5.2f µs/frame  connect %6.2f s  rss %5.1f KiB/conn  heap %5.1f KiB/conn  missing %d refused %d\n",
					round, v.name, c, res.P50, res.P99, res.CPUns/1000, res.ConnectS, res.RSSConn/1024, res.HeapConn/1024, res.Missing, res.Refused)
				os.RemoveAll(runDir)
			}
		}
	}
	rep := summarize(o, all)
	fmt.Fprint(stdout, rep.markdown())
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "peers: wrote %s\n", o.jsonPath)
	}
	return nil
}
