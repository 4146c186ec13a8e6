package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/jetstream"
	"txxt/server"
	"txxt/store"
)

// The idle cost of a world on a node (docs/BENCHMARKS.md, "Many nodes:
// the idle cost of a world"). Without -fig.idle the test is a smoke run:
// a few worlds, idle for a second.
var (
	figIdle    = flag.Bool("fig.idle", false, "TestFigIdleWorlds: take the figures (1 world, then -fig.idle.worlds, each idle for -fig.idle.for) instead of a smoke run")
	figIdleN   = flag.Int("fig.idle.worlds", 1000, "with -fig.idle: the worlds of the second measurement")
	figIdleFor = flag.Duration("fig.idle.for", time.Minute, "with -fig.idle: how long the node stays idle while it is measured")
	figIdleTTL = flag.Duration("fig.idle.ttl", jetstream.DefaultLeaseTTL, "with -fig.idle: the node's lease TTL (its renewals: every TTL/4 per world)")
)

// figIdleCost is what one node owning n idle worlds cost over an idle
// period, and the NATS server beside it.
type figIdleCost struct {
	worlds                int
	lost                  int     // leases the node lost while idle ("team lost" in its log)
	rssKiB, heapLive      int64   // the node's resident memory at the end; its live heap at its last GC
	goroutines            int64   // the node's
	cpu                   float64 // the node's CPU seconds per second
	natsHeap, natsRSSKiB  int64   // the test process's (the NATS server's) growth since before it started
	natsCPU               float64 // the test process's CPU seconds per second
	renewals              float64 // lease writes per second ($KV.WORLD_LEASES.>)
	natsIn, natsOut       float64 // messages per second into and out of the NATS server
	natsInKiB, natsOutKiB float64 // KiB per second
}

// TestFigIdleWorlds measures what idle worlds cost on one txxt node in
// cluster mode: a NATS server in this process (JetStream, file storage,
// sync always), one node (`txxt serve --nats`, a child process), the
// teams written to the deployment's teams table (as another node that
// makes a team writes them), the node following and then owning every
// world, and, once it owns them all and has settled, an idle period with
// no client: the node's resident memory, live heap and goroutines, its
// CPU per second (/proc/PID/stat), the NATS server's growth in this
// process's heap and resident memory and its CPU per second (this
// process's rusage), the messages per second through the NATS server and
// the lease renewals among them. Once with 1 world, then with 1,000.
//
//	go test -count=1 -run 'TestFigIdleWorlds$' -v -timeout 30m ./cmd/txxt/ -args -fig.idle
func TestFigIdleWorlds(t *testing.T) {
	counts, idle, ttl := []int{1, 3}, time.Second, jetstream.DefaultLeaseTTL
	if *figIdle {
		counts, idle, ttl = []int{1, *figIdleN}, *figIdleFor, *figIdleTTL
	}
	var costs []figIdleCost
	for _, n := range counts {
		costs = append(costs, figIdleRun(t, n, idle, ttl))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "idle for %s, lease TTL %s, no client:\n", idle, ttl)
	fmt.Fprintf(&b, "%7s %10s %10s %6s %5s %8s %10s %10s %8s %9s %9s %9s %9s %9s\n", "worlds", "node RSS", "node heap", "gor.", "lost", "node CPU", "NATS heap", "NATS RSS", "NATS CPU", "renew/s", "in msg/s", "out msg/s", "in KiB/s", "out KiB/s")
	for _, c := range costs {
		fmt.Fprintf(&b, "%7d %7d KiB %6d KiB %6d %5d %7.1f%% %6d KiB %6d KiB %7.1f%% %9.0f %9.0f %9.0f %9.1f %9.1f\n", c.worlds, c.rssKiB, c.heapLive>>10, c.goroutines, c.lost, 100*c.cpu,
			c.natsHeap>>10, c.natsRSSKiB, 100*c.natsCPU, c.renewals, c.natsIn, c.natsOut, c.natsInKiB, c.natsOutKiB)
	}
	if len(costs) == 2 && costs[1].worlds > costs[0].worlds {
		one, many := costs[0], costs[1]
		per := float64(many.worlds - one.worlds)
		fmt.Fprintf(&b, "per world (the difference, over %d worlds): node RSS %.1f KiB, node heap %.1f KiB, %.1f goroutines, node CPU %.3f ms/s; NATS heap %.1f KiB, NATS RSS %.1f KiB, NATS CPU %.3f ms/s; %.2f renewals/s, %.2f msgs/s in, %.2f out\n",
			int(per), float64(many.rssKiB-one.rssKiB)/per, float64(many.heapLive-one.heapLive)/1024/per, float64(many.goroutines-one.goroutines)/per, 1000*(many.cpu-one.cpu)/per,
			float64(many.natsHeap-one.natsHeap)/1024/per, float64(many.natsRSSKiB-one.natsRSSKiB)/per, 1000*(many.natsCPU-one.natsCPU)/per,
			(many.renewals-one.renewals)/per, (many.natsIn-one.natsIn)/per, (many.natsOut-one.natsOut)/per)
	}
	t.Log(b.String())
}

// figIdleRun is one measurement: a NATS server of its own, n teams, one
// node owning them all, idle.
func figIdleRun(t *testing.T, n int, idle, ttl time.Duration) figIdleCost {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+time.Duration(n)*500*time.Millisecond)
	defer cancel()
	heap0, rss0 := figSelfMemory(t)
	ns, err := natsserver.NewServer(&natsserver.Options{
		ServerName: fmt.Sprintf("fig-idle-%d", n), Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		SyncAlways: true, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("waited 10 s for the NATS server to take connections")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	dir := t.TempDir()
	node, err := spawnServerOn(ctx, dir, []string{"--nats", ns.ClientURL(), "--node", "idle", "--lease-ttl", ttl.String(), "--demo=false"}, &log)
	if err != nil {
		t.Fatalf("start the node: %v\n%s", err, log.String())
	}
	defer func() {
		node.stop()
		if t.Failed() {
			t.Logf("the node's log:\n%s", log.String())
		}
	}()
	// The teams, written to the teams table as CreateTeam on another node
	// writes them: the node reads the table every second and takes them.
	// A tenth at a time, each tenth owned before the next is written: a
	// thousand worlds taken at once, each lease and marker a write fsynced
	// by the NATS server, made the loaded machine miss renewals and the
	// node lose and take worlds again for minutes.
	accounts, err := jetstream.OpenTables(ctx, js, accountsBucket, jetstream.TablesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	step := max(1, n/10)
	for made := 0; made < n; {
		for next := min(n, made+step); made < next; made++ {
			figPutTeam(t, ctx, accounts, made)
		}
		for owned := figOwned(dir); owned < made; owned = figOwned(dir) {
			if ctx.Err() != nil {
				t.Fatalf("waited %s for the node to own %d worlds: it owns %d", time.Since(began).Round(time.Second), made, owned)
			}
			time.Sleep(time.Second)
		}
	}
	t.Logf("%d worlds: the node owned them all %s after it started", n, time.Since(began).Round(time.Millisecond))
	time.Sleep(min(idle, 10*time.Second)) // the start's garbage collected, its renewals settled
	logAt := len(log.String())

	var renewals atomic.Int64
	sub, err := nc.Subscribe("$KV."+jetstream.LeaseBucket+".>", func(*nats.Msg) { renewals.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	pid := node.cmd.Process.Pid
	cpu0, self0 := figCPU(t, pid), figSelfCPU(t)
	v0, err := ns.Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(idle)
	secs := time.Since(start).Seconds()
	cpu1, self1 := figCPU(t, pid), figSelfCPU(t)
	v1, err := ns.Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	renewed := renewals.Load()
	sub.Unsubscribe()
	lost, why := figLost(log.String()[logAt:])
	owned := figOwned(dir)
	t.Logf("%d worlds: while idle the node lost %d worlds (%v); it owns %d at the end", n, lost, why, owned)
	c := figIdleCost{worlds: n, lost: lost, cpu: (cpu1 - cpu0) / secs, natsCPU: (self1 - self0) / secs, renewals: float64(renewed) / secs,
		natsIn: float64(v1.InMsgs-v0.InMsgs) / secs, natsOut: float64(v1.OutMsgs-v0.OutMsgs) / secs,
		natsInKiB: float64(v1.InBytes-v0.InBytes) / 1024 / secs, natsOutKiB: float64(v1.OutBytes-v0.OutBytes) / 1024 / secs}
	m := rssKiB(t, pid)
	c.rssKiB = m.anon + m.file
	c.heapLive, c.goroutines = figNodeRuntime(t, node.url)
	heap1, rss1 := figSelfMemory(t)
	c.natsHeap, c.natsRSSKiB = heap1-heap0, rss1-rss0
	return c
}

// figLost counts the worlds the node's log says it lost ("team lost"), by
// the reason given (the world's name taken out).
func figLost(log string) (int, map[string]int) {
	why := map[string]int{}
	n := 0
	for line := range strings.Lines(log) {
		if !strings.Contains(line, `msg="team lost"`) {
			continue
		}
		n++
		reason := line
		if i := strings.Index(line, ` err="`); i >= 0 {
			reason = strings.TrimSuffix(strings.TrimSpace(line[i+6:]), `"`)
		}
		if _, after, ok := strings.Cut(reason, ": "); ok && strings.HasPrefix(reason, "world ") {
			reason = after
		}
		why[reason]++
	}
	return n, why
}

// figPutTeam writes team i to the deployment's teams table.
func figPutTeam(t *testing.T, ctx context.Context, accounts *jetstream.Tables, i int) {
	t.Helper()
	info := server.TeamInfo{Slug: fmt.Sprintf("idle-%04d", i), Name: fmt.Sprintf("Idle %d", i), Created: time.Now().UTC()}
	raw, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := accounts.Put(ctx, "teams", info.Slug, raw); err != nil {
		t.Fatalf("team %s: %v", info.Slug, err)
	}
}

// figOwned is how many worlds the node whose data directory is dir says
// it owns (over its admin socket), -1 when it does not answer within a
// minute (a loaded node taking many worlds).
func figOwned(dir string) int {
	path := filepath.Join(dir, store.AdminSocket)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	defer client.CloseIdleConnections()
	res, err := client.Get("http://txxt/api/status")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	var st struct {
		Cluster struct {
			Owned []string `json:"owned"`
		} `json:"cluster"`
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return -1
	}
	return len(st.Cluster.Owned)
}

// figNodeRuntime reads the node's live heap (at its last GC) and its
// goroutines from its /metrics.
func figNodeRuntime(t *testing.T, url string) (heapLive, goroutines int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/metrics", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the node's metrics: %v", err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "go_gc_heap_live_bytes":
			heapLive = int64(v)
		case "go_sched_goroutines_goroutines":
			goroutines = int64(v)
		}
	}
	if heapLive == 0 || goroutines == 0 {
		t.Fatalf("the node's metrics have no go_gc_heap_live_bytes or go_sched_goroutines_goroutines")
	}
	return heapLive, goroutines
}

// figCPU is a process's CPU time so far (user and system), in seconds,
// from /proc/PID/stat.
func figCPU(t *testing.T, pid int) float64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// After the command's name in parentheses: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ, 100 on Linux
}

// figSelfCPU is this process's CPU time so far, in seconds.
func figSelfCPU(t *testing.T) float64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// figSelfMemory is this process's live heap after a collection, in bytes,
// and its resident memory in KiB.
func figSelfMemory(t *testing.T) (heap, rss int64) {
	t.Helper()
	debug.FreeOSMemory()
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	m := rssKiB(t, os.Getpid())
	return int64(s[0].Value.Uint64()), m.anon + m.file
}
