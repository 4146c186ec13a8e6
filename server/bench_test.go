package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/server"
	"txxt/wire"
	"txxt/world"
)

// Benchmarks for the figures in docs/BENCHMARKS.md. Each reports its
// percentiles with ReportMetric; run them with -count and take medians.

// percentile returns the q-quantile of ds (sorted in place).
func percentile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}

func reportLatency(b *testing.B, ds []time.Duration, unit time.Duration, name string) {
	b.ReportMetric(float64(percentile(ds, 0.50))/float64(unit), "p50-"+name)
	b.ReportMetric(float64(percentile(ds, 0.99))/float64(unit), "p99-"+name)
}

// BenchmarkREST: one request after another on a kept-alive loopback
// connection, each endpoint on its own.
func BenchmarkREST(b *testing.B) {
	h := start(b, options{})
	h.srv.SeedDemo(context.Background(), server.MainTeam, time.Now(), server.Demo{Tasks: 1000, Seed: 1})
	h.do("PUT", "/api/profiles/week", h.member, map[string]any{"view": "week"})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for _, ep := range []struct{ method, path, token, body string }{
		{"GET", "/api/status", "", ""},
		{"GET", "/api/settings", h.member, ""},
		{"GET", "/api/profiles", h.member, ""},
		{"PUT", "/api/profiles/week", h.member, `{"view":"week","collapsed":true}`},
		{"GET", "/readyz", "", ""},
	} {
		b.Run(ep.method+strings.ReplaceAll(ep.path, "/", "_"), func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				req, _ := http.NewRequest(ep.method, h.hs.URL+ep.path, strings.NewReader(ep.body))
				if ep.token != "" {
					req.Header.Set("Authorization", "Bearer "+ep.token)
				}
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				ds = append(ds, time.Since(t0))
				if res.StatusCode >= 300 {
					b.Fatalf("%s %s: %d", ep.method, ep.path, res.StatusCode)
				}
			}
			reportLatency(b, ds, time.Microsecond, "µs")
		})
	}
}

// BenchmarkConnectSnapshot: dial, upgrade, and read until the Snapshot of
// a 5,000-task world has arrived. "changed" renames a task before each
// connect, so the snapshot is encoded anew each time instead of shared.
func BenchmarkConnectSnapshot(b *testing.B) {
	h := start(b, options{cfg: server.Config{Limits: server.Limits{MaxConnsPerHost: -1, MaxConnsPerUser: -1}}}) // a closed connection may still hold its slot for a moment
	if err := h.srv.SeedDemo(context.Background(), server.MainTeam, time.Now(), server.Demo{Tasks: 5000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	var task world.ID
	h.eng.Read(context.Background(), func(w *world.World) { task = w.Tasks()[0].ID })
	header := http.Header{"Authorization": {"Bearer " + h.admin}}
	for _, v := range []struct {
		name    string
		v1      bool
		changed bool
	}{{"v0", false, false}, {"v1", true, false}, {"v1-changed", true, true}} {
		b.Run(v.name, func(b *testing.B) {
			var ds []time.Duration
			var size int
			for b.Loop() {
				if v.changed {
					b.StopTimer()
					rename := world.Command{Kind: world.CmdRenameTask, Task: task, Text: fmt.Sprintf("renamed %d", len(ds))}
					if res, err := h.eng.Do(context.Background(), engine.Request{Command: rename}); err != nil || res.Err != nil {
						b.Fatal(err, res.Err)
					}
					b.StartTimer()
				}
				t0 := time.Now()
				ws, _, err := h.dialRaw(v.v1, "", header)
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, raw, err := ws.Read(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					if raw[0] == wire.TypeSnapshot {
						size = len(raw)
						break
					}
				}
				ds = append(ds, time.Since(t0))
				ws.CloseNow()
			}
			reportLatency(b, ds, time.Millisecond, "ms")
			b.ReportMetric(float64(size), "snapshot-B")
		})
	}
}

// BenchmarkIdleConnections opens 2,000 game connections from a child
// process (so the clients' memory is not counted) and reports what the
// server holds per connection once they are idle: Go heap and goroutine
// stacks. Kernel socket buffers are not included.
func BenchmarkIdleConnections(b *testing.B) {
	const n = 2000
	h := start(b, options{cfg: server.Config{Limits: server.Limits{MaxConnsPerHost: -1, MaxConnsPerUser: -1}}}) // all from loopback
	h.srv.SeedDemo(context.Background(), server.MainTeam, time.Now(), server.Demo{Tasks: 0, Seed: 1})
	for b.Loop() {
		before := memNow()
		g0 := runtime.NumGoroutine()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIdleClients$")
		cmd.Env = append(os.Environ(), "TXXT_IDLE_CLIENTS="+h.wsURL("")+"|"+h.admin+"|"+strconv.Itoa(n))
		cmd.Stderr = os.Stderr
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if !strings.HasPrefix(line, "ready") {
			b.Fatalf("clients: %q", line)
		}
		if c := h.status()["connections"].(float64); c != n {
			b.Fatalf("%v connections open, want %d", c, n)
		}
		time.Sleep(time.Second) // let the handshakes' garbage be garbage
		after := memNow()
		goroutines := runtime.NumGoroutine() - g0
		stdin.Close()
		cmd.Wait()
		b.ReportMetric(float64(after.heap-before.heap)/n, "heap-B/conn")
		b.ReportMetric(float64(after.objects-before.objects)/n, "objects-B/conn")
		b.ReportMetric(float64(after.stack-before.stack)/n, "stack-B/conn")
		b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/n, "B/conn")
		b.ReportMetric(float64(goroutines)/n, "goroutines/conn")
		eventually(b, "clients gone", func() bool { return h.status()["connections"].(float64) == 0 })
	}
}

// mem is the memory the Go runtime holds for the process: heap spans in
// use (objects and the free room between them) and goroutine stacks.
type mem struct{ heap, objects, stack uint64 }

func memNow() mem {
	runtime.GC()
	sm := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
	}
	metrics.Read(sm)
	obj := sm[0].Value.Uint64()
	return mem{heap: obj + sm[1].Value.Uint64(), objects: obj, stack: sm[2].Value.Uint64()}
}

// TestHelperIdleClients is BenchmarkIdleConnections' child process: it
// opens the connections, reads each one's Snapshot, prints "ready", keeps
// reading (answering pings) until its stdin closes.
func TestHelperIdleClients(t *testing.T) {
	spec := os.Getenv("TXXT_IDLE_CLIENTS")
	if spec == "" {
		t.Skip("only run by BenchmarkIdleConnections")
	}
	parts := strings.Split(spec, "|")
	n, _ := strconv.Atoi(parts[2])
	opts := &websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}, HTTPHeader: http.Header{"Authorization": {"Bearer " + parts[1]}}}
	for i := range n {
		ws, _, err := websocket.Dial(context.Background(), parts[0], opts)
		if err != nil {
			fmt.Printf("dial %d: %v\n", i, err)
			os.Exit(1)
		}
		ws.SetReadLimit(-1)
		for {
			_, raw, err := ws.Read(context.Background())
			if err != nil {
				fmt.Printf("read %d: %v\n", i, err)
				os.Exit(1)
			}
			if raw[0] == wire.TypeSnapshot {
				break
			}
		}
		go func() {
			for {
				if _, _, err := ws.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// BenchmarkTimings measures what the stage timings cost: one client keeps
// 64 commands in flight over a real socket, with the timings on and off,
// side by side in one run. The save file does not fsync here, so the
// comparison is of CPU work, where the timings' cost would show.
func BenchmarkTimings(b *testing.B) {
	for _, on := range []bool{true, false} {
		name := "on"
		if !on {
			name = "off"
		}
		b.Run(name, func(b *testing.B) {
			h := start(b, options{noSync: true, engine: engine.Options{NoTimings: !on}, cfg: server.Config{NoTimings: !on,
				Limits: server.Limits{CommandRate: 1e9, CommandBurst: 1e9}}})
			c := h.dial(true, "")
			c.handshake()
			svc := h.service("bench")
			task := newTask(svc, "moving")
			task.Slot = world.Slot{Date: 20000, Start: 0, Duration: 30}
			c.ack(1, task)
			var id world.ID
			h.eng.Read(context.Background(), func(w *world.World) { id = w.Tasks()[0].ID })
			const inflight = 64
			sent, answered := 0, 0
			move := func() {
				sent++
				c.send(uint32(sent+1), world.Command{Kind: world.CmdMoveTask, Task: id, Slot: world.Slot{Date: 20000, Start: uint16(sent%40) * 30, Duration: 30}})
			}
			b.ResetTimer()
			for range min(inflight, b.N) {
				move()
			}
			for answered < b.N {
				f := c.next()
				switch f.Type {
				case wire.TypeAck:
					answered++
					if sent < b.N {
						move()
					}
				case wire.TypeError:
					b.Fatalf("refused: %+v", f.Error)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
		})
	}
}

// BenchmarkBystanderUnderFlood measures what one user flooding commands
// from 128 connections costs another: the bystander (ann) sends one
// command at a time and times each answer, first with nobody else on the
// server, then while bob floods, in the same run and on the same server
// (the save file fsyncs), with no limit on bob's connections and the
// default command budget (200 a second, over all his connections). Run
// with -benchtime=1x: each run takes its samples whatever b.N: 1,000
// answers each way, one every 6 ms (within ann's own budget), 6 s each.
// At first it was 400 as fast as they came: a p99 of the 4th slowest
// answer of a quarter second, one stall of the machine.
//
// Bob floods from a child process (TestHelperFlood), as an attacker's
// client runs on its own machine: in this process, his 256 goroutines
// writing as fast as the kernel takes frames (filling about 4 MB of
// socket buffer per connection) were 63% of its CPU, in the same
// scheduler as the server and ann, and the figure measured them.
func BenchmarkBystanderUnderFlood(b *testing.B) {
	const conns, samples, annEvery = 128, 1000, 6 * time.Millisecond
	// Ann reads only while she waits for an answer: no keepalive ping
	// may fall in the seconds the flood's connections take to open.
	limits := server.Limits{MaxConnsPerHost: -1, MaxConnsPerUser: -1, PingInterval: time.Hour}
	b.Run(fmt.Sprintf("%d-connections", conns), func(b *testing.B) {
		h := start(b, options{cfg: server.Config{Limits: limits, TelemetryEvery: time.Hour}})
		svc := h.service("bench")
		ann := h.dial(true, "")
		ann.handshake()
		req := uint32(0)
		measure := func() []time.Duration {
			ds := make([]time.Duration, 0, samples)
			// Ann keeps within her own budget (200 a second): one command
			// every annEvery, as a person's client, not as fast as she can.
			next := time.Now()
			for range samples {
				time.Sleep(time.Until(next))
				next = next.Add(annEvery)
				req++
				began := time.Now()
				ann.send(req, newTask(svc, "ann"))
				if f, _ := ann.answer(req); f.Type != wire.TypeAck {
					b.Fatalf("ann's command refused: %+v", f.Error)
				}
				ds = append(ds, time.Since(began))
			}
			return ds
		}
		for range b.N {
			quiet := measure()
			flood := startFlood(b, h.wsURL(""), h.member, svc, conns)
			time.Sleep(time.Second) // the flood at full strength
			flooded := measure()
			if os.Getenv("TXXT_BENCH_STAGES") != "" {
				_, body := h.do("GET", "/metrics", h.admin, nil)
				for _, line := range strings.Split(string(body), "\n") {
					if strings.Contains(line, "txxt_stage_seconds{") && strings.Contains(line, "0.99") {
						b.Log(line)
					}
				}
			}
			accepted, refused := flood.stop()
			q50, q99 := percentile(quiet, 0.5), percentile(quiet, 0.99)
			f50, f99 := percentile(flooded, 0.5), percentile(flooded, 0.99)
			b.ReportMetric(float64(q50.Microseconds()), "quiet-p50-µs")
			b.ReportMetric(float64(q99.Microseconds()), "quiet-p99-µs")
			b.ReportMetric(float64(f50.Microseconds()), "flood-p50-µs")
			b.ReportMetric(float64(f99.Microseconds()), "flood-p99-µs")
			b.ReportMetric(float64(f99)/float64(q99), "p99-ratio")
			b.ReportMetric(float64(accepted), "bob-accepted")
			b.ReportMetric(float64(refused), "bob-refused")
		}
	})
}

// floodProc is a child process flooding the server (TestHelperFlood).
type floodProc struct {
	tb    testing.TB
	cmd   *exec.Cmd
	stdin io.Closer
	out   *bufio.Reader
}

// startFlood starts TestHelperFlood with conns connections as token and
// waits until all of them are open and sending.
func startFlood(tb testing.TB, url, token string, svc world.ID, conns int) *floodProc {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFlood$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("TXXT_FLOOD=%s|%s|%s|%d", url, token, svc, conns))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	f := &floodProc{tb: tb, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	ready := make(chan string, 1)
	go func() { line, _ := f.out.ReadString('\n'); ready <- line }()
	select {
	case line := <-ready:
		if !strings.HasPrefix(line, "ready") {
			tb.Fatalf("the flood did not start: %q", line)
		}
	case <-time.After(time.Minute):
		tb.Fatalf("the flood's %d connections not open within a minute", conns)
	}
	return f
}

// stop ends the flood and returns bob's commands accepted and refused.
func (f *floodProc) stop() (accepted, refused int64) {
	f.stdin.Close()
	done := make(chan string, 1)
	go func() { line, _ := f.out.ReadString('\n'); done <- line }()
	select {
	case line := <-done:
		fmt.Sscan(line, &accepted, &refused)
	case <-time.After(wait):
		f.tb.Fatalf("the flood did not stop within %s", wait)
	}
	f.cmd.Wait()
	return accepted, refused
}

// TestHelperFlood is BenchmarkBystanderUnderFlood's flooder, a process of
// its own: it opens the connections, prints "ready", and on each sends
// CreateTask as fast as the socket takes it while reading everything it
// is sent (as a client must), until its stdin closes; then it prints the
// answers it counted, accepted and refused.
func TestHelperFlood(t *testing.T) {
	spec := os.Getenv("TXXT_FLOOD")
	if spec == "" {
		t.Skip("only run by BenchmarkBystanderUnderFlood")
	}
	parts := strings.Split(spec, "|")
	svc, _ := world.ParseID(parts[2])
	n, _ := strconv.Atoi(parts[3])
	ctx, stop := context.WithCancel(context.Background())
	// A send buffer of 64 KiB, not the 4 MB Linux grows one to: what the
	// server sees is the same (a receive queue that never empties, read
	// at the server's pace), but the flooder does not spend seconds of
	// both cores filling 500 MB of loopback buffers, which an attacker
	// elsewhere would spend on its own machine.
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 64<<10) })
		return err
	}}
	opts := &websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}, HTTPHeader: http.Header{"Authorization": {"Bearer " + parts[1]}},
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}}
	var accepted, refused atomicCount
	for i := range n {
		ws, _, err := websocket.Dial(ctx, parts[0], opts)
		if err != nil {
			fmt.Printf("dial %d: %v\n", i, err)
			os.Exit(1)
		}
		ws.SetReadLimit(-1)
		go func() {
			for {
				_, raw, err := ws.Read(ctx)
				if err != nil {
					return
				}
				if len(raw) > 0 && raw[0] == wire.TypeError {
					refused.add()
				} else if len(raw) > 0 && raw[0] == wire.TypeAck {
					accepted.add()
				}
			}
		}()
		go func() {
			for n := uint32(1); ctx.Err() == nil; n++ {
				cmd := newTask(svc, fmt.Sprintf("bob %d.%d", i, n))
				if ws.Write(ctx, websocket.MessageBinary, wire.AppendCommand(nil, true, n, &cmd)) != nil {
					return
				}
			}
		}()
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	stop()
	fmt.Println(accepted.load(), refused.load())
	os.Exit(0)
}

// atomicCount is a counter for the flood's goroutines.
type atomicCount struct{ n atomic.Int64 }

func (c *atomicCount) add()        { c.n.Add(1) }
func (c *atomicCount) load() int64 { return c.n.Load() }
