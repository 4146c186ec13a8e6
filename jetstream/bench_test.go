package jetstream

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/engine"
	"txxt/jetstream/natstest"
	"txxt/store"
	"txxt/world"
	"txxt/worldlog"
)

// The figures of issue 18 (docs/BENCHMARKS.md, "Many nodes: the durable
// round trip on bbolt, JetStream R1 and R3"). Without -fig.durable the
// test is a smoke run of a few hundred milliseconds that checks only that
// every command is answered.
var (
	figDurable = flag.Bool("fig.durable", false, "TestFigDurableRoundTrip: take the figures (rounds of -fig.time per variant) instead of a smoke run")
	figRounds  = flag.Int("fig.rounds", 5, "with -fig.durable: rounds, each running every variant in turn (A B C A B C …)")
	figTime    = flag.Duration("fig.time", 3*time.Second, "with -fig.durable: how long each variant runs in each round")
	figWorlds  = flag.String("fig.worlds", "1,64", "with -fig.durable: the numbers of worlds written at once, comma-separated")
)

// figVariant is one backend of the comparison: an engine per world on it.
type figVariant struct {
	name    string
	engines map[int][]*engine.Engine // by the number of worlds written at once
	tasks   map[*engine.Engine]world.ID
	log     figLog // its engines' warnings: why a command was refused
}

// figLog keeps what the engines log, for the report.
type figLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *figLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *figLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// figRound is what one variant did in one round at one number of worlds.
type figRound struct {
	p50, p99 time.Duration
	perSec   float64
	refused  int // commands answered with an error (a failed commit: STORAGE_UNAVAILABLE)
}

// TestFigDurableRoundTrip measures a command's durable round trip (the
// engine's Submit to its answer, which comes once the batch is durable)
// and the commands per second, with one writer per world sending one
// command and waiting for its answer, at 1 and at 64 worlds written at
// once, on three backends in one run: the bbolt save file (a file per
// world, as a single server keeps its teams), JetStream on one NATS server
// (R1) and on a cluster of three in this process (R3, routes between
// them, every stream and bucket with three replicas), both with file
// storage and sync always. The variants run in turn, round after round
// (A B C A B C …), so that a change of the machine's load hits all three;
// the table gives the medians of the rounds and their ratios to bbolt,
// and the commands refused over all rounds (a commit that failed: the
// engine degraded until its log answers again), which are not timed; the
// engines' warnings, which say why, follow it.
//
//	go test -count=1 -run 'TestFigDurableRoundTrip$' -v ./jetstream/ -args -fig.durable
func TestFigDurableRoundTrip(t *testing.T) {
	rounds, each, counts := 1, 200*time.Millisecond, []int{1, 4}
	if *figDurable {
		rounds, each, counts = *figRounds, *figTime, nil
		for f := range strings.SplitSeq(*figWorlds, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("-fig.worlds %q: %q is not a number of worlds", *figWorlds, f)
			}
			counts = append(counts, n)
		}
	}
	most := slices.Max(counts)
	r1 := figServer(t)
	r3 := figCluster(t)
	variants := []*figVariant{
		figVariantOf(t, "bbolt", counts, func(t *testing.T, w string) worldlog.Log {
			s, err := store.Open(filepath.Join(t.TempDir(), w+".db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}),
		figVariantOf(t, "JetStream R1", counts, func(t *testing.T, w string) worldlog.Log { return figOpen(t, r1, w, 1) }),
		figVariantOf(t, "JetStream R3", counts, func(t *testing.T, w string) worldlog.Log { return figOpen(t, r3, w, 3) }),
	}
	t.Logf("%d worlds at most on each backend; %d rounds of %s per variant", most, rounds, each)
	// A few commands on every engine first: the streams' first writes and
	// the files' first growth are not in the figures.
	for _, v := range variants {
		for _, n := range counts {
			figWrite(t, v, n, 20*time.Millisecond)
		}
	}
	got := map[string]map[int][]figRound{}
	for round := range rounds {
		for _, n := range counts {
			for i := range variants {
				// The order turns each round, so no variant always runs
				// after the same one.
				v := variants[(i+round)%len(variants)]
				if got[v.name] == nil {
					got[v.name] = map[int][]figRound{}
				}
				got[v.name][n] = append(got[v.name][n], figWrite(t, v, n, each))
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "medians of %d rounds of %s each (p50 and p99 of one command's round trip; commands/s of all writers):\n", rounds, each)
	fmt.Fprintf(&b, "%-14s %6s %10s %10s %10s %8s %8s %8s %8s\n", "backend", "worlds", "p50", "p99", "cmd/s", "p50×", "p99×", "cmd/s×", "refused")
	for _, n := range counts {
		base := figMedians(got["bbolt"][n])
		for _, v := range variants {
			m := figMedians(got[v.name][n])
			refused := 0
			for _, r := range got[v.name][n] {
				refused += r.refused
			}
			fmt.Fprintf(&b, "%-14s %6d %10s %10s %10.0f %8.2f %8.2f %8.2f %8d\n", v.name, n,
				m.p50.Round(time.Microsecond), m.p99.Round(time.Microsecond), m.perSec,
				float64(m.p50)/float64(base.p50), float64(m.p99)/float64(base.p99), m.perSec/base.perSec, refused)
		}
	}
	t.Log(b.String())
	for _, v := range variants {
		if l := v.log.String(); l != "" {
			t.Logf("%s's engines logged:\n%s", v.name, l)
		}
	}
}

// figVariantOf opens, on backend, an engine for each world the largest
// count needs (a smaller count writes the first of them), each with a
// service and one task to move: the world does not grow with the run. Snapshots are off, so only
// the commit is measured.
func figVariantOf(t *testing.T, name string, counts []int, backend func(*testing.T, string) worldlog.Log) *figVariant {
	t.Helper()
	v := &figVariant{name: name, engines: map[int][]*engine.Engine{}, tasks: map[*engine.Engine]world.ID{}}
	var shared []*engine.Engine
	for _, n := range counts {
		for len(shared) < n {
			w := fmt.Sprintf("fig-%d", len(shared))
			logger := slog.New(slog.NewTextHandler(&v.log, &slog.HandlerOptions{Level: slog.LevelWarn})).With("world", w)
			e, err := engine.Open(backend(t, w), engine.Options{SnapshotEvery: 1 << 40, Logger: logger})
			if err != nil {
				t.Fatalf("%s: open world %s: %v", name, w, err)
			}
			t.Cleanup(func() { e.Close() })
			v.tasks[e] = figSetUp(t, e)
			shared = append(shared, e)
		}
		v.engines[n] = shared[:n]
	}
	return v
}

// figSetUp creates a service and a task in e's world and returns the
// task's id.
func figSetUp(t *testing.T, e *engine.Engine) world.ID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	svc := world.Command{Kind: world.CmdCreateService, Text: "Ops"}
	res, err := e.Do(ctx, engine.Request{Command: svc, Actor: alice})
	if err != nil || res.Err != nil {
		t.Fatalf("create the service: %v %v", err, res.Err)
	}
	var sid world.ID
	if err := e.Read(ctx, func(w *world.World) { sid = w.Services()[0].ID }); err != nil {
		t.Fatal(err)
	}
	task := world.Command{Kind: world.CmdCreateTask, Service: sid, Slot: world.Slot{Date: 20000, Start: 0, Duration: 30}, Text: "fig"}
	if res, err := e.Do(ctx, engine.Request{Command: task, Actor: alice}); err != nil || res.Err != nil {
		t.Fatalf("create the task: %v %v", err, res.Err)
	}
	var id world.ID
	if err := e.Read(ctx, func(w *world.World) { id = w.Tasks()[0].ID }); err != nil {
		t.Fatal(err)
	}
	return id
}

// figWrite runs one writer on each of v's first n worlds for d: each
// moves its world's task, waits for the answer, and moves it again. A
// command refused (a commit that failed, the engine degraded until its
// log answers again) is counted, and the writer goes on after a pause; an
// engine that does not answer fails the test.
func figWrite(t *testing.T, v *figVariant, n int, d time.Duration) figRound {
	t.Helper()
	engines := v.engines[n]
	took := make([][]time.Duration, len(engines))
	refused := make([]int, len(engines))
	errs := make([]error, len(engines))
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for i, e := range engines {
		wg.Go(func() {
			slot := world.Slot{Date: 20000, Start: 0, Duration: 30}
			for time.Now().Before(end) {
				slot.Start = (slot.Start + 30) % 1200
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				began := time.Now()
				res, err := e.Do(ctx, engine.Request{Command: world.Command{Kind: world.CmdMoveTask, Task: v.tasks[e], Slot: slot}, Actor: alice})
				cancel()
				if err != nil {
					errs[i] = fmt.Errorf("%s, world %d of %d: %w", v.name, i, n, err)
					return
				}
				if res.Err != nil {
					refused[i]++
					time.Sleep(10 * time.Millisecond)
					continue
				}
				took[i] = append(took[i], time.Since(began))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	all := slices.Concat(took...)
	if len(all) == 0 {
		t.Fatalf("%s, %d worlds: no command accepted in %s (%d refused); its engines logged:\n%s", v.name, n, d, figSum(refused), v.log.String())
	}
	slices.Sort(all)
	return figRound{p50: all[len(all)/2], p99: all[len(all)*99/100], perSec: float64(len(all)) / elapsed.Seconds(), refused: figSum(refused)}
}

func figSum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}

// figMedians is the median of each figure over the rounds.
func figMedians(rounds []figRound) figRound {
	med := func(f func(figRound) float64) float64 {
		v := make([]float64, len(rounds))
		for i, r := range rounds {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return figRound{
		p50:    time.Duration(med(func(r figRound) float64 { return float64(r.p50) })),
		p99:    time.Duration(med(func(r figRound) float64 { return float64(r.p99) })),
		perSec: med(func(r figRound) float64 { return r.perSec }),
	}
}

// figServer runs one NATS server with JetStream in the test process (file
// storage, sync always) and returns a JetStream client of it, the worlds'
// stream set up (one shard, as `txxt serve --nats` by default).
func figServer(t *testing.T) natsjs.JetStream {
	t.Helper()
	return figConnect(t, []string{natstest.Start(t)}, 1)
}

// figCluster runs three clustered NATS servers in the test process (routes
// between them, file storage, sync always, each its own directory, all on
// the one disk) and returns a JetStream client of the first, the worlds'
// stream set up with three replicas.
func figCluster(t *testing.T) natsjs.JetStream {
	t.Helper()
	return figConnect(t, natstest.Cluster(t, 3), 3)
}

// figConnect connects to urls and sets the worlds' stream up with
// replicas, retrying while a young cluster has no meta leader or not every
// peer yet ("no suitable peers").
func figConnect(t *testing.T, urls []string, replicas int) natsjs.JetStream {
	t.Helper()
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	figRetry(t, "the worlds' stream", func(ctx context.Context) error {
		return Setup(ctx, js, Options{Replicas: replicas})
	})
	return js
}

// figOpen opens world's log as its writer, retrying while a young
// cluster's stream has no leader yet.
func figOpen(t *testing.T, js natsjs.JetStream, world string, replicas int) *Log {
	t.Helper()
	var l *Log
	figRetry(t, "the log of "+world, func(ctx context.Context) (err error) {
		l, err = Open(ctx, js, world, "fig", Options{Replicas: replicas})
		return err
	})
	return l
}

// figRetry calls fn until it succeeds, for 30 s at most.
func figRetry(t *testing.T, what string, fn func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := fn(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
