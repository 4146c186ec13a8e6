package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"txxt/lab"
	"txxt/server"
	"txxt/store"
	"txxt/wire"
	"txxt/world"
)

const attackUsage = `Usage: txxt load attack --kind KIND[,KIND...] [flags]

Runs each attack of docs/RELIABILITY.md ("Nobody takes the server down from
inside") against a txxt serve of its own (a child process with the default
limits and a temporary data directory), for --duration, while a bystander
(the demo admin) moves a task of hers 50 times a second and times each
answer. The attacker (the demo member) is a process of its own, as an
attacker's client is not the server's. Then it stops the server and checks
every acknowledged command, the bystander's and the attacker's, at its
revision in the save file. It prints a row per attack: the server's peak
RSS, the bystander's p50 and p99, the commands checked and lost, and what
the attacker got.

Kinds:
  none    no attack: the figures to compare with
  flood   128 connections sending CreateTask as fast as the socket takes them
  views   saved views of 7.6 KiB (and some over the size limit) as fast as PUT answers, from 8 clients
  tasks   CreateTask from 8 connections against a team quota of 2,000 tasks
  stall   128 connections to a 20,000-task world that never read (4 KiB receive buffers), reconnecting when closed
  storm   64 clients connecting with ?since=0 again and again, each reading its 20,000-task snapshot
  conns   32 clients opening connections as fast as they can, holding every one they get
  ping    16 connections sending Ping as fast as the socket takes them
  all     none, then every attack
`

var attackKinds = []string{"none", "flood", "views", "tasks", "stall", "storm", "conns", "ping"}

// attackRow is one attack's figures.
type attackRow struct {
	Kind     string
	PeakRSS  int64 // bytes: the most VmRSS of the server seen during the attack
	PeakHeap int64 // bytes: the most heap_bytes (/api/status: Go objects) seen during the attack
	P50, P99 time.Duration
	Samples  int // the bystander's answered commands
	Refused  int // the bystander's commands refused (any code)
	Checked  int // acknowledged commands looked up in the save file
	Lost     int // of those, not at their revision
	Attacker attackCounts
}

// attackCounts is what the attacker got, by outcome ("accepted",
// "RATE_LIMITED", "http 429", "snapshots", ...).
type attackCounts map[string]int64

func (c attackCounts) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

// ack is one acknowledged command: where its record must be.
type ack struct {
	Client   string `json:"client"`
	Request  uint32 `json:"request"`
	Revision uint64 `json:"revision"`
}

func runAttack(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load attack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, attackUsage, "\nFlags:\n"); fs.PrintDefaults() }
	kinds := fs.String("kind", "", "the attacks, comma-separated, or all")
	duration := fs.Duration("duration", 30*time.Second, "how long each attack runs")
	attacker := fs.Bool("attacker", false, "internal: be the attacker of --kind against --url until stdin closes, its acknowledgements to --acks")
	url := fs.String("url", "", "internal, with --attacker: the server")
	acks := fs.String("acks", "", "internal, with --attacker: where to write the acknowledged commands")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	list := strings.Split(*kinds, ",")
	if *kinds == "all" {
		list = attackKinds
	}
	for _, k := range list {
		if !slices.Contains(attackKinds, k) {
			fs.Usage()
			return exitError{fmt.Errorf("unknown attack %q (have %s, or all)", k, strings.Join(attackKinds, ", ")), 2}
		}
	}
	if *attacker {
		return beAttacker(ctx, list[0], *url, *acks, stdin, stdout)
	}
	var rows []attackRow
	for _, k := range list {
		row, err := attackOnce(ctx, k, *duration, stderr)
		if err != nil {
			return fmt.Errorf("attack %s: %w", k, err)
		}
		fmt.Fprintf(stdout, "%-6s peak RSS %6.1f MiB, heap %6.1f MiB, bystander p50 %s p99 %s (%d answered, %d refused), acknowledged %d, lost %d; attacker: %s\n",
			row.Kind, float64(row.PeakRSS)/(1<<20), float64(row.PeakHeap)/(1<<20), millis(row.P50), millis(row.P99), row.Samples, row.Refused, row.Checked, row.Lost, row.Attacker)
		rows = append(rows, row)
	}
	fmt.Fprintf(stdout, "\n| attack (%s) | peak RSS | peak heap | bystander p50 | bystander p99 | acknowledged commands checked | lost | what the attacker got |\n|---|---:|---:|---:|---:|---:|---:|---|\n", *duration)
	lost := 0
	for _, r := range rows {
		fmt.Fprintf(stdout, "| %s | %.0f MiB | %.0f MiB | %s | %s | %d | %d | %s |\n", r.Kind, float64(r.PeakRSS)/(1<<20), float64(r.PeakHeap)/(1<<20), millis(r.P50), millis(r.P99), r.Checked, r.Lost, r.Attacker)
		lost += r.Lost
	}
	if lost > 0 {
		return fmt.Errorf("%d acknowledged commands are not in the save file", lost)
	}
	return nil
}

func millis(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// serveArgs are the flags for the attack's server: spawnServerOn lifts the
// limits for loads; an attack runs against the defaults, and a few kinds
// against a bigger world or a smaller quota.
func serveArgs(kind string) []string {
	args := []string{"--max-conns-per-host", strconv.Itoa(server.DefaultMaxConnsPerHost),
		"--max-conns-per-user", strconv.Itoa(server.DefaultMaxConnsPerUser),
		"--command-rate", "200", "--max-tasks-per-team", "0", "--max-services-per-team", "0"}
	switch kind {
	case "stall", "storm":
		// The attack: 128 stalled connections of one user on a
		// 117,000-task world; here 20,000 tasks (a 3.8 MB snapshot), and the
		// user may hold 128.
		args = append(args, "--demo-tasks", "20000", "--max-conns-per-user", "128")
	case "tasks":
		args = append(args, "--max-tasks-per-team", "2000")
	}
	return args
}

// attackOnce runs one attack against a new server and checks its save file.
func attackOnce(ctx context.Context, kind string, d time.Duration, stderr io.Writer) (attackRow, error) {
	row := attackRow{Kind: kind}
	dir, err := os.MkdirTemp("", "txxt-attack-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	srv, err := spawnServerOn(ctx, data, serveArgs(kind), stderr)
	if err != nil {
		return row, err
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.stop()
		}
	}()
	by, err := newBystander(ctx, srv.url)
	if err != nil {
		return row, fmt.Errorf("bystander: %w", err)
	}
	var atk *attackerProc
	if kind != "none" {
		if atk, err = startAttacker(ctx, kind, srv.url, filepath.Join(dir, "acks.json"), stderr); err != nil {
			return row, err
		}
		defer atk.kill()
	}
	runCtx, cancel := context.WithTimeout(ctx, d)
	peak := make(chan [2]int64, 1)
	go func() { r, h := samplePeak(runCtx, srv.cmd.Process.Pid, srv.url); peak <- [2]int64{r, h} }()
	lat, refused, err := by.run(runCtx)
	cancel()
	p := <-peak
	row.PeakRSS, row.PeakHeap = p[0], p[1]
	if err != nil {
		return row, fmt.Errorf("bystander: %w", err)
	}
	all := by.acks
	if atk != nil {
		counts, acks, err := atk.stop()
		if err != nil {
			return row, err
		}
		row.Attacker, all = counts, append(all, acks...)
	}
	by.ws.CloseNow()
	srv.stop()
	stopped = true
	row.Samples, row.Refused = len(lat), refused
	if len(lat) > 0 {
		slices.Sort(lat)
		row.P50, row.P99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	}
	row.Checked = len(all)
	row.Lost, err = lostAcks(ctx, store.TeamFile(data, server.DemoTeam), all)
	return row, err
}

// samplePeak reads the server's resident set (VmRSS) every 50 ms, and
// its Go heap (/api/status) every 250 ms, until ctx ends, and returns the
// most it saw of each (0 where /proc has none). The attack's peak, not
// the process's (VmHWM): the demo's and the logins' password hashes
// (64 MiB each) would be that. RSS keeps what the hashes took for a while
// (the runtime returns freed memory gradually), so a peak RSS near it
// says the attack needed no more; the heap is what the attack holds.
func samplePeak(ctx context.Context, pid int, url string) (rssPeak, heapPeak int64) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		rssPeak = max(rssPeak, rss(pid))
		if n%5 == 0 {
			heapPeak = max(heapPeak, heap(ctx, url))
		}
		select {
		case <-ctx.Done():
			return rssPeak, heapPeak
		case <-tick.C:
		}
	}
}

// heap is the server's heap_bytes from /api/status, 0 when it does not answer.
func heap(ctx context.Context, url string) int64 {
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/status", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var st struct {
		Heap int64 `json:"heap_bytes"`
	}
	json.NewDecoder(res.Body).Decode(&st)
	return st.Heap
}

// rss is a process's resident set now (VmRSS), 0 where /proc has none.
func rss(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// lostAcks opens the save file (its server stopped) and counts the
// acknowledged commands whose record is not at their revision with their
// client and request.
func lostAcks(ctx context.Context, path string, acks []ack) (int, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err // never a new, empty file in its place
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	want := make(map[uint64]ack, len(acks))
	for _, a := range acks {
		want[a.Revision] = a
	}
	err = st.Records(ctx, 0, func(r store.Record) error {
		if a, ok := want[r.Revision]; ok && a.Client == r.Client.String() && a.Request == r.Request {
			delete(want, r.Revision)
		}
		return nil
	})
	return len(want), err
}

// bystander is the demo admin on one v1 connection, moving a task of hers.
type bystander struct {
	ws     *websocket.Conn
	client string
	task   world.ID
	svc    world.ID
	req    uint32
	acks   []ack
}

func newBystander(ctx context.Context, url string) (*bystander, error) {
	t, err := lab.Login(ctx, url, server.DemoUser, server.DemoPassword)
	if err != nil {
		return nil, err
	}
	ws, welcome, snap, err := dialGame(ctx, http.DefaultClient, url, t.Token, "")
	if err != nil {
		return nil, err
	}
	if len(snap.Services) == 0 {
		ws.CloseNow()
		return nil, errors.New("the demo world has no service")
	}
	b := &bystander{ws: ws, client: welcome.Client.String(), svc: snap.Services[0].ID}
	f, err := b.do(ctx, world.Command{Kind: world.CmdCreateTask, Service: b.svc, Priority: world.Medium,
		Slot: world.Slot{Date: 20000, Start: 0, Duration: 30}, Text: "the bystander's task"})
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	if f.Type != wire.TypeAck {
		ws.CloseNow()
		return nil, fmt.Errorf("creating the bystander's task: %s", f.Error.Message)
	}
	return b, nil
}

// do sends cmd and reads until its answer; created tasks are noted.
func (b *bystander) do(ctx context.Context, cmd world.Command) (wire.ServerFrame, error) {
	b.req++
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.ws.Write(wctx, websocket.MessageBinary, wire.AppendCommand(nil, true, b.req, &cmd)); err != nil {
		return wire.ServerFrame{}, err
	}
	for {
		_, raw, err := b.ws.Read(wctx)
		if err != nil {
			return wire.ServerFrame{}, err
		}
		f, err := wire.DecodeServerFrame(raw, true)
		if err != nil {
			return f, err
		}
		switch {
		case wire.IsEvent(f.Type) && f.Event.Kind == world.EvTaskCreated && b.task.IsZero():
			b.task = f.Event.Task.ID
		case f.Type == wire.TypeAck && f.Ack.Request == b.req:
			b.acks = append(b.acks, ack{Client: b.client, Request: b.req, Revision: f.Ack.Revision})
			return f, nil
		case f.Type == wire.TypeError && f.Error.Request == b.req:
			return f, nil
		}
	}
}

// run moves the task 50 times a second until ctx ends, timing each answer.
func (b *bystander) run(ctx context.Context) ([]time.Duration, int, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lat []time.Duration
	refused := 0
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return lat, refused, nil
		case <-tick.C:
		}
		began := time.Now()
		f, err := b.do(context.WithoutCancel(ctx), world.Command{Kind: world.CmdMoveTask, Task: b.task,
			Slot: world.Slot{Date: 20000, Start: uint16(n%40) * 30, Duration: 30}})
		if err != nil {
			return lat, refused, err
		}
		lat = append(lat, time.Since(began))
		if f.Type != wire.TypeAck {
			refused++
		}
	}
}

// dialGame opens a v1 game connection and reads its Welcome and, unless
// query resumes (since=), its Snapshot.
func dialGame(ctx context.Context, hc *http.Client, url, token, query string) (*websocket.Conn, wire.Welcome, *world.State, error) {
	u := "ws" + strings.TrimPrefix(url, "http") + "/api/game"
	if query != "" {
		u += "?" + query
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{wire.Subprotocol},
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		if res != nil {
			return nil, wire.Welcome{}, nil, httpStatus(res.StatusCode)
		}
		return nil, wire.Welcome{}, nil, err
	}
	ws.SetReadLimit(-1)
	var welcome wire.Welcome
	for {
		_, raw, err := ws.Read(dctx)
		if err != nil {
			ws.CloseNow()
			return nil, welcome, nil, err
		}
		f, err := wire.DecodeServerFrame(raw, true)
		if err != nil {
			ws.CloseNow()
			return nil, welcome, nil, err
		}
		switch f.Type {
		case wire.TypeWelcome:
			welcome = f.Welcome
			if strings.Contains(query, "since=") {
				return ws, welcome, nil, nil
			}
		case wire.TypeSnapshot:
			return ws, welcome, f.Snapshot, nil
		}
	}
}

// httpStatus is an upgrade refused with an HTTP status.
type httpStatus int

func (s httpStatus) Error() string { return fmt.Sprintf("http %d", int(s)) }

// attackerProc is the attacker, a child process of this binary.
type attackerProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	out   *bufio.Reader
	acks  string
}

func startAttacker(ctx context.Context, kind, url, acks string, stderr io.Writer) (*attackerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "load", "attack", "--attacker", "--kind", kind, "--url", url, "--acks", acks)
	cmd.Env = append(os.Environ(), spawnEnv+"=1")
	cmd.Stderr = stderr
	dieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	a := &attackerProc{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), acks: acks}
	line, err := a.line(ctx, 2*time.Minute)
	if err != nil || line != "ready" {
		a.kill()
		return nil, fmt.Errorf("the attacker did not start (%q): %v", line, err)
	}
	return a, nil
}

// line reads the attacker's next line of output within d.
func (a *attackerProc) line(ctx context.Context, d time.Duration) (string, error) {
	got := make(chan string, 1)
	go func() {
		line, err := a.out.ReadString('\n')
		if err != nil && line == "" {
			line = "(ended: " + err.Error() + ")"
		}
		got <- strings.TrimSpace(line)
	}()
	select {
	case line := <-got:
		return line, nil
	case <-time.After(d):
		return "", fmt.Errorf("no line from the attacker within %s", d)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// stop ends the attack and returns what the attacker got and its
// acknowledged commands.
func (a *attackerProc) stop() (attackCounts, []ack, error) {
	a.stdin.Close()
	line, err := a.line(context.Background(), time.Minute)
	if err != nil {
		return nil, nil, err
	}
	var counts attackCounts
	if err := json.Unmarshal([]byte(line), &counts); err != nil {
		return nil, nil, fmt.Errorf("the attacker's counts %q: %w", line, err)
	}
	if err := a.cmd.Wait(); err != nil {
		return nil, nil, fmt.Errorf("the attacker: %w", err)
	}
	raw, err := os.ReadFile(a.acks)
	if err != nil {
		return nil, nil, err
	}
	var acks []ack
	if err := json.Unmarshal(raw, &acks); err != nil {
		return nil, nil, fmt.Errorf("the attacker's acknowledgements: %w", err)
	}
	return counts, acks, nil
}

func (a *attackerProc) kill() {
	if a.cmd.ProcessState == nil {
		a.cmd.Process.Kill()
		a.cmd.Wait()
	}
}

// tally is the attacker's counts and acknowledgements, shared by its
// goroutines.
type tally struct {
	mu     sync.Mutex
	counts attackCounts
	acks   []ack
}

func (t *tally) add(what string) {
	t.mu.Lock()
	t.counts[what]++
	t.mu.Unlock()
}

func (t *tally) ack(a ack) {
	t.mu.Lock()
	t.counts["accepted"]++
	t.acks = append(t.acks, a)
	t.mu.Unlock()
}

// outcome counts an error: an HTTP status, or "errors".
func (t *tally) outcome(err error) {
	var st httpStatus
	if errors.As(err, &st) {
		t.add(st.Error())
	} else if err != nil {
		t.add("errors")
	}
}

// beAttacker logs in as the demo member, starts the attack, prints
// "ready", and goes on until stdin closes; then it writes the
// acknowledged commands to acksPath and prints its counts as JSON.
func beAttacker(ctx context.Context, kind, url, acksPath string, stdin io.Reader, stdout io.Writer) error {
	t, err := lab.Login(ctx, url, server.DemoMember, server.DemoMemberPassword)
	if err != nil {
		return err
	}
	ws, _, snap, err := dialGame(ctx, http.DefaultClient, url, t.Token, "")
	if err != nil {
		return err
	}
	ws.CloseNow() // it was for the snapshot's service: it holds no slot during the attack
	actx, stop := context.WithCancel(ctx)
	tl := &tally{counts: attackCounts{}}
	var wg sync.WaitGroup
	spawn := func(n int, f func(i int)) {
		for i := range n {
			wg.Go(func() { f(i) })
		}
	}
	svc := snap.Services[0].ID
	switch kind {
	case "flood":
		spawn(128, func(int) { commandFlood(actx, url, t.Token, tl, func(n uint32) []byte { return createFrame(svc, n) }) })
	case "tasks":
		spawn(8, func(int) { commandFlood(actx, url, t.Token, tl, func(n uint32) []byte { return createFrame(svc, n) }) })
	case "ping":
		spawn(16, func(int) {
			commandFlood(actx, url, t.Token, tl, func(n uint32) []byte {
				return wire.AppendPing(nil, &wire.Ping{Nonce: n, ClientTime: uint64(time.Now().UnixMilli())})
			})
		})
	case "views":
		spawn(8, func(i int) { viewsFlood(actx, url, t.Token, i, tl) })
	case "stall":
		spawn(128, func(int) { stallReader(actx, url, t.Token, tl) })
	case "storm":
		spawn(64, func(int) {
			for actx.Err() == nil {
				ws, _, _, err := dialGame(actx, http.DefaultClient, url, t.Token, "since=0")
				if err != nil {
					tl.outcome(err)
					continue
				}
				// since=0 resumes from before the first revision: a Snapshot.
				for actx.Err() == nil {
					_, raw, err := ws.Read(actx)
					if err != nil {
						break
					}
					if len(raw) > 0 && raw[0] == wire.TypeSnapshot {
						tl.add("snapshots")
						break
					}
				}
				ws.CloseNow()
			}
		})
	case "conns":
		spawn(32, func(int) { connFlood(actx, url, t.Token, tl) })
	}
	fmt.Fprintln(stdout, "ready")
	io.Copy(io.Discard, stdin)
	stop()
	wg.Wait()
	raw, err := json.Marshal(tl.acks)
	if err != nil {
		return err
	}
	if err := os.WriteFile(acksPath, raw, 0o600); err != nil {
		return err
	}
	raw, _ = json.Marshal(tl.counts)
	fmt.Fprintln(stdout, string(raw))
	return nil
}

func createFrame(svc world.ID, n uint32) []byte {
	cmd := world.Command{Kind: world.CmdCreateTask, Service: svc, Priority: world.Low, Slot: world.NoSlot, Text: "flood " + strconv.Itoa(int(n))}
	return wire.AppendCommand(nil, true, n, &cmd)
}

// commandFlood opens a connection and sends frame(1), frame(2), ... as
// fast as the socket takes them, reading (and counting) every answer,
// until ctx ends; a connection refused or closed is opened again.
func commandFlood(ctx context.Context, url, token string, tl *tally, frame func(n uint32) []byte) {
	hc := smallSendBuffers()
	for ctx.Err() == nil {
		ws, welcome, _, err := dialGame(ctx, hc, url, token, "")
		if err != nil {
			tl.outcome(err)
			if ctx.Err() == nil {
				time.Sleep(time.Second) // refused: the limit holds; try again later
			}
			continue
		}
		client := welcome.Client.String()
		read := make(chan struct{})
		go func() {
			defer close(read)
			for {
				_, raw, err := ws.Read(ctx)
				if err != nil {
					return
				}
				f, err := wire.DecodeServerFrame(raw, true)
				switch {
				case err != nil:
					tl.add("undecodable")
				case f.Type == wire.TypeAck:
					tl.ack(ack{Client: client, Request: f.Ack.Request, Revision: f.Ack.Revision})
				case f.Type == wire.TypeError:
					tl.add(f.Error.Code.String())
				case f.Type == wire.TypePong:
					tl.add("pongs")
				}
			}
		}()
		for n := uint32(1); ctx.Err() == nil; n++ {
			if ws.Write(ctx, websocket.MessageBinary, frame(n)) != nil {
				break
			}
		}
		ws.CloseNow()
		<-read
	}
}

// smallSendBuffers is a client that dials with 64 KiB socket send buffers, not the 4 MB
// Linux grows one to: the server sees the same flood (a receive queue
// that never empties, read at its pace), but the attacker does not spend
// both cores' seconds filling hundreds of MB of loopback buffers, which an
// attacker elsewhere would spend on its own machine.
func smallSendBuffers() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetWriteBuffer(64 << 10)
		}
		return nc, err
	}}}
}

// viewsFlood saves views as fast as the server answers: names v0 to v199
// in turn (past the quota of 50 each is refused), most of 7.6 KiB, every
// fifth over the 8 KiB limit, and lists them every tenth request.
func viewsFlood(ctx context.Context, url, token string, worker int, tl *tally) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = world.ID{byte(worker), byte(i), byte(i >> 8), 1}.String()
		}
		return out
	}
	small, big := ids(200), ids(240)
	for n := 0; ctx.Err() == nil; n++ {
		services := small
		if n%5 == 4 {
			services = big
		}
		body, _ := json.Marshal(map[string]any{"view": "week", "services": services})
		method, path, rd := "PUT", fmt.Sprintf("/api/profiles/w%d-v%d", worker, n%200), io.Reader(bytes.NewReader(body))
		if n%10 == 9 {
			method, path, rd = "GET", "/api/profiles", nil
		}
		req, _ := http.NewRequestWithContext(ctx, method, url+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			tl.outcome(err)
			continue
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		tl.add(fmt.Sprintf("%s %d", method, res.StatusCode))
	}
}

// stallReader opens a connection with a 4 KiB receive buffer and never
// reads from it; when the server closes it (or after 12 s), it opens
// another.
func stallReader(ctx context.Context, url, token string, tl *tally) {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10)
		}
		return nc, err
	}}}
	u := "ws" + strings.TrimPrefix(url, "http") + "/api/game"
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ws, res, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{wire.Subprotocol},
			HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
		cancel()
		if err != nil {
			if res != nil {
				tl.outcome(httpStatus(res.StatusCode))
			} else {
				tl.outcome(err)
			}
			if ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		tl.add("stalled connections")
		select {
		case <-ctx.Done():
		case <-time.After(12 * time.Second):
		}
		ws.CloseNow()
	}
}

// connFlood opens connections as fast as it can, holding each one it gets
// (read in the background, as a page does), until ctx ends.
func connFlood(ctx context.Context, url, token string, tl *tally) {
	var open []*websocket.Conn
	defer func() {
		for _, ws := range open {
			ws.CloseNow()
		}
	}()
	for ctx.Err() == nil {
		ws, _, _, err := dialGame(ctx, http.DefaultClient, url, token, "")
		if err != nil {
			tl.outcome(err)
			continue
		}
		tl.add("connections")
		open = append(open, ws)
		go func() {
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
			}
		}()
	}
}
