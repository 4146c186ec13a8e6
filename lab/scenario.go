package lab

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"txxt/world"
)

// Scenarios lists what Run can do.
var Scenarios = []string{"create", "mixed", "fanout", "slow", "connect"}

// Config is one run.
type Config struct {
	Scenario string        `json:"scenario"`
	Clients  int           `json:"clients"`  // create, mixed: clients; fanout, slow: writers; connect: at once
	Readers  int           `json:"readers"`  // fanout, slow: clients that only read
	Count    int           `json:"count"`    // create: commands per client; connect: connections
	Rate     float64       `json:"rate"`     // commands a second per writer (0: each waits for the last answer)
	Duration time.Duration `json:"duration"` // mixed, fanout, slow
	Burst    int           `json:"burst"`    // mixed: commands per connection before it reconnects
	// ConnectParallel is how many readers connect at once (fanout, slow;
	// default 64): one after another, the run would measure the load
	// tool's round trips, not the server's connect storm.
	ConnectParallel int `json:"connect_parallel"`

	// Keep leaves the run's tasks on the server. Without it, Run deletes
	// every task it created before it returns, also when it fails or ctx
	// is cancelled: a server the run shares with people is left as it was
	// found, but for the run's own service. A server started for the run
	// alone needs no tidying.
	Keep bool `json:"keep"`
	// CleanupTimeout bounds that tidying up (default 1 min).
	CleanupTimeout time.Duration `json:"-"`

	Progress io.Writer `json:"-"` // a progress line while it runs, or nil
	// Finished, if set, is called when the scenario has ended well and
	// before the tidying up: the moment to read what the server measured
	// of the run, without the deletes.
	Finished func() `json:"-"`
}

// Result is what a run measured on the client's side.
type Result struct {
	Config     Config    `json:"config"`
	Started    time.Time `json:"started"`
	Elapsed    float64   `json:"elapsed_s"`
	Commands   int64     `json:"commands"`
	Errors     int64     `json:"errors"`
	FirstError string    `json:"first_error,omitempty"`
	Throughput float64   `json:"throughput_per_s"`

	RTT       Summary  `json:"rtt"` // command sent → its answer
	RTTHist   []Bucket `json:"rtt_histogram"`
	RTTSeries []Second `json:"rtt_series"`

	Fanout  *Summary `json:"fanout,omitempty"`  // command sent → its event at every reader
	Connect *Summary `json:"connect,omitempty"` // dial → snapshot received
	// ConnectAll is how long the readers took to connect, all of them
	// (fanout, slow: from the first dial to the last Snapshot).
	ConnectAll float64 `json:"connect_all_s,omitempty"`

	Resumes       int   `json:"resumes,omitempty"`        // mixed: reconnections with since
	Gaps          int   `json:"gaps"`                     // events that did not follow the previous revision
	StalledClosed *bool `json:"stalled_closed,omitempty"` // slow: the server closed the client that stopped reading

	Cleanup Cleanup `json:"cleanup"` // what became of the run's tasks
}

func (c *Config) fill() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	switch c.Scenario {
	case "create":
		def(&c.Clients, 1)
		def(&c.Count, 40)
	case "mixed":
		def(&c.Clients, 8)
		def(&c.Burst, 20)
	case "fanout", "slow":
		def(&c.Clients, 1)
		def(&c.Readers, 10)
		def(&c.ConnectParallel, 64)
		if c.Rate <= 0 {
			c.Rate = 100
		}
	case "connect":
		def(&c.Clients, 50)
		def(&c.Count, 500)
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.CleanupTimeout <= 0 {
		c.CleanupTimeout = time.Minute
	}
}

// run is the shared state of one run.
type run struct {
	cfg      Config
	t        Target
	start    time.Time
	rtt      *recorder
	commands atomic.Int64
	errors   atomic.Int64
	firstErr atomic.Pointer[string]
	service  world.ID // the run's own: every task it creates is filed under it
	name     string   // the service's name
	day      uint16
	measured time.Time // when the measured part began, if not at start

	mu    sync.Mutex
	tasks map[world.ID]bool // the tasks the server said the run created
}

func (r *run) fail(err error) {
	r.errors.Add(1)
	s := err.Error()
	r.firstErr.CompareAndSwap(nil, &s)
}

// Run drives t with cfg and returns what the clients measured. The run's
// tasks go into a service of its own, named after the moment it started
// ("txxt load 2026-12-01 11:40:05"), and are deleted when it ends unless
// cfg.Keep (see Config.Keep and tidy).
func Run(ctx context.Context, t Target, cfg Config) (*Result, error) {
	cfg.fill()
	now := time.Now()
	r := &run{cfg: cfg, t: t, day: uint16(now.Unix() / 86400), name: "txxt load " + now.Format(time.DateTime), tasks: map[world.ID]bool{}}
	// The service is made over the protocol like the rest.
	setup, err := dial(ctx, t, "", nil)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.URL, err)
	}
	r.service, err = r.create1(ctx, setup, world.Command{Kind: world.CmdCreateService, Text: r.name})
	setup.close()
	if err != nil {
		return nil, fmt.Errorf("set up: %w", err)
	}
	res, err := r.scenario(ctx)
	if err == nil && cfg.Finished != nil {
		cfg.Finished()
	}
	cleanup, cerr := r.tidy(ctx)
	if err != nil || cerr != nil {
		return nil, errors.Join(err, cerr)
	}
	res.Cleanup = cleanup
	return res, nil
}

// scenario runs the scenario itself, between the set-up and the tidying up.
func (r *run) scenario(ctx context.Context) (*Result, error) {
	cfg := r.cfg
	var err error

	r.start = time.Now()
	r.rtt = newRecorder(r.start)
	stop := r.progress()
	res := &Result{Config: cfg, Started: r.start}
	switch cfg.Scenario {
	case "create":
		err = r.create(ctx)
	case "mixed":
		err = r.mixed(ctx, res)
	case "fanout":
		err = r.fanout(ctx, res, false)
	case "slow":
		err = r.fanout(ctx, res, true)
	case "connect":
		err = r.connect(ctx, res)
	default:
		err = fmt.Errorf("unknown scenario %q (have %s)", cfg.Scenario, strings.Join(Scenarios, ", "))
	}
	stop()
	if err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(r.start).Seconds()
	if !r.measured.IsZero() { // the set-up (readers connecting) does not count
		res.Elapsed = time.Since(r.measured).Seconds()
	}
	res.Commands, res.Errors = r.commands.Load(), r.errors.Load()
	if p := r.firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	if res.Elapsed > 0 {
		res.Throughput = float64(res.Commands) / res.Elapsed
	}
	res.RTT, res.RTTHist, res.RTTSeries = r.rtt.summary(), r.rtt.histogram(), r.rtt.series()
	return res, nil
}

// create1 runs a command that creates something (not timed) and returns
// the id the server gave it.
func (r *run) create1(ctx context.Context, c *client, cmd world.Command) (world.ID, error) {
	_, rev, err := c.do(ctx, cmd)
	if err != nil {
		return world.ID{}, err
	}
	id, ok := c.createdAt(rev)
	if !ok {
		return world.ID{}, fmt.Errorf("the Ack at %d came before its event", rev)
	}
	if cmd.Kind == world.CmdCreateTask {
		r.created(id)
	}
	return id, nil
}

// created notes a task the run created, for tidy.
func (r *run) created(id world.ID) {
	r.mu.Lock()
	r.tasks[id] = true
	r.mu.Unlock()
}

func randomID() world.ID {
	var id world.ID
	rand.Read(id[:])
	return id
}

// command runs one command on c, recording its round trip.
func (r *run) command(ctx context.Context, c *client, cmd world.Command) uint64 {
	rtt, rev, err := c.do(ctx, cmd)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(err)
		}
		return 0
	}
	r.commands.Add(1)
	r.rtt.add(rtt)
	if cmd.Kind == world.CmdCreateTask {
		if id, ok := c.createdAt(rev); ok {
			r.created(id)
		}
	}
	return rev
}

func (r *run) task(title string, slot world.Slot) world.Command {
	return world.Command{Kind: world.CmdCreateTask, Service: r.service, Priority: world.Medium, Slot: slot, Text: title}
}

// pace waits for the next command's time at rate a second (0: no wait).
func pace(ctx context.Context, rate float64, next *time.Time) bool {
	if rate <= 0 {
		return ctx.Err() == nil
	}
	*next = next.Add(time.Duration(float64(time.Second) / rate))
	select {
	case <-time.After(time.Until(*next)):
		return true
	case <-ctx.Done():
		return false
	}
}

// create: each client sends Count CreateTask, one after another (the
// original's smoke test is one client, 40 commands). The clients connect
// before the clock starts.
func (r *run) create(ctx context.Context) error {
	// Every client connects first; the clock starts when all have.
	var ready sync.WaitGroup
	ready.Add(r.cfg.Clients)
	go0 := make(chan struct{})
	go func() {
		ready.Wait()
		r.measured = time.Now()
		close(go0)
	}()
	return r.each(ctx, r.cfg.Clients, func(ctx context.Context, i int) error {
		c, err := dial(ctx, r.t, "", nil)
		ready.Done()
		if err != nil {
			return err
		}
		defer c.close()
		<-go0
		next := time.Now()
		for n := 0; n < r.cfg.Count && pace(ctx, r.cfg.Rate, &next); n++ {
			r.command(ctx, c, r.task(fmt.Sprintf("load %d.%d", i, n), world.Slot{Date: r.day, Start: uint16(n%48) * 30, Duration: 30}))
		}
		return nil
	})
}

// mixed: each client connects, makes a burst of moves, resizes,
// unschedules and schedules of its own task, disconnects, and reconnects
// resuming from its last revision, until the duration is over.
func (r *run) mixed(ctx context.Context, res *Result) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	var resumes, gaps atomic.Int64
	err := r.each(ctx, r.cfg.Clients, func(ctx context.Context, i int) error {
		clientID := randomID()
		query := "client=" + clientID.String()
		var task world.ID
		var since uint64
		var request uint32 // request ids go on across reconnects: a repeated one would be a retry
		for n := 0; ctx.Err() == nil; n++ {
			q := query
			if n > 0 {
				q += fmt.Sprintf("&since=%d", since)
				resumes.Add(1)
			}
			c, err := dial(ctx, r.t, q, nil)
			if err != nil {
				if ctx.Err() == nil {
					r.fail(err)
				}
				return nil
			}
			c.next = request
			if task.IsZero() {
				if task, err = r.create1(ctx, c, r.task(fmt.Sprintf("mixed %d", i), world.Slot{Date: r.day, Start: 0, Duration: 30})); err != nil {
					r.fail(err)
					c.close()
					return nil
				}
			}
			scheduled := true
			for b := 0; b < r.cfg.Burst && ctx.Err() == nil; b++ {
				slot := world.Slot{Date: r.day + uint16(b%5), Start: uint16(b%40) * 30, Duration: 30 + uint16(b%3)*5}
				switch {
				case !scheduled:
					r.command(ctx, c, world.Command{Kind: world.CmdScheduleTask, Task: task, Slot: slot})
					scheduled = true
				case b%7 == 6:
					r.command(ctx, c, world.Command{Kind: world.CmdUnscheduleTask, Task: task})
					scheduled = false
				default:
					r.command(ctx, c, world.Command{Kind: world.CmdMoveTask, Task: task, Slot: slot})
				}
			}
			c.close()
			since, request = c.last, c.next
			gaps.Add(int64(c.gaps))
		}
		return nil
	})
	res.Resumes, res.Gaps = int(resumes.Load()), int(gaps.Load())
	return err
}

// fanout: writers send moves at a rate while readers only read; for each
// command, the time from its send to its event at the last reader. With
// slow, one more client connects and never reads.
func (r *run) fanout(ctx context.Context, res *Result, slow bool) error {
	type entry struct {
		sent time.Time
		got  int
		last time.Time
	}
	var mu sync.Mutex
	seen := map[uint64]*entry{}
	at := func(rev uint64) *entry {
		e := seen[rev]
		if e == nil {
			e = &entry{}
			seen[rev] = e
		}
		return e
	}
	onEvent := func(rev uint64, t time.Time) {
		mu.Lock()
		e := at(rev)
		e.got++
		if t.After(e.last) {
			e.last = t
		}
		mu.Unlock()
	}
	readers := make([]*client, r.cfg.Readers)
	var next atomic.Int64
	connectStart := time.Now()
	err := r.each(ctx, min(r.cfg.ConnectParallel, r.cfg.Readers), func(ctx context.Context, _ int) error {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(readers) {
				return nil
			}
			c, err := dial(ctx, r.t, "", onEvent)
			if err != nil {
				next.Store(int64(len(readers))) // the others stop too
				return fmt.Errorf("reader %d: %w", i, err)
			}
			readers[i] = c
		}
	})
	res.ConnectAll = time.Since(connectStart).Seconds()
	if err != nil {
		for _, c := range readers {
			if c != nil {
				c.close()
			}
		}
		return err
	}
	var stalled *websocket.Conn
	if slow {
		// Connects, and never reads a frame.
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.t.URL, "http")+"/api/game", &websocket.DialOptions{
			Subprotocols: []string{"txxt.v1"},
			HTTPHeader:   map[string][]string{"Authorization": {"Bearer " + r.t.Token}},
		})
		if err != nil {
			return fmt.Errorf("stalled client: %w", err)
		}
		stalled = ws
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	r.measured = time.Now()
	err = r.each(wctx, r.cfg.Clients, func(ctx context.Context, i int) error {
		c, err := dial(ctx, r.t, "", nil)
		if err != nil {
			return err
		}
		defer c.close()
		task, err := r.create1(ctx, c, r.task(fmt.Sprintf("fanout %d", i), world.Slot{Date: r.day, Start: 0, Duration: 30}))
		if err != nil {
			return err
		}
		next := time.Now()
		for n := 0; pace(ctx, r.cfg.Rate, &next); n++ {
			sent := time.Now()
			rev := r.command(ctx, c, world.Command{Kind: world.CmdMoveTask, Task: task, Slot: world.Slot{Date: r.day, Start: uint16(n%40) * 30, Duration: 30}})
			if rev != 0 {
				mu.Lock()
				at(rev).sent = sent
				mu.Unlock()
			}
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // the last events reach the readers
	for _, c := range readers {
		c.close()
		res.Gaps += c.gaps
	}
	if stalled != nil {
		// Did the server give up on it? Read what it buffered: a closed
		// connection ends in an error other than our deadline.
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		stalled.SetReadLimit(-1)
		var err error
		for err == nil {
			_, _, err = stalled.Read(rctx)
		}
		cancel()
		closed := rctx.Err() == nil
		stalled.CloseNow()
		res.StalledClosed = &closed
	}
	fan := newRecorder(r.start)
	mu.Lock()
	for _, e := range seen {
		if !e.sent.IsZero() && e.got == len(readers) {
			fan.add(e.last.Sub(e.sent))
		}
	}
	mu.Unlock()
	s := fan.summary()
	res.Fanout = &s
	return err
}

// connect: Count clients connect, Clients at a time; each is timed from
// the dial to its Snapshot received, then closes.
func (r *run) connect(ctx context.Context, res *Result) error {
	rec := newRecorder(r.start)
	var next atomic.Int64
	err := r.each(ctx, r.cfg.Clients, func(ctx context.Context, _ int) error {
		for next.Add(1) <= int64(r.cfg.Count) {
			start := time.Now()
			c, err := dial(ctx, r.t, "", nil)
			if err != nil {
				r.fail(err)
				continue
			}
			rec.add(time.Since(start))
			r.commands.Add(1)
			c.ws.Close(websocket.StatusNormalClosure, "")
		}
		return nil
	})
	s := rec.summary()
	res.Connect = &s
	return err
}

// each runs fn for n workers at once and returns the first error.
func (r *run) each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(ctx, i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// progress prints a line every quarter second until stop is called.
func (r *run) progress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintln(r.cfg.Progress)
				return
			case <-tick.C:
			}
			el := time.Since(r.start)
			n := r.commands.Load()
			line := fmt.Sprintf("%s %5.1fs  %d done  %.0f/s  %d errors", r.cfg.Scenario, el.Seconds(), n, float64(n)/el.Seconds(), r.errors.Load())
			if total := r.total(); total > 0 {
				filled := int(min(1, float64(n)/float64(total)) * 30)
				line = "[" + strings.Repeat("=", filled) + strings.Repeat(" ", 30-filled) + "] " + line
			} else if r.cfg.Duration > 0 {
				filled := int(min(1, el.Seconds()/r.cfg.Duration.Seconds()) * 30)
				line = "[" + strings.Repeat("=", filled) + strings.Repeat(" ", 30-filled) + "] " + line
			}
			fmt.Fprintf(r.cfg.Progress, "\r%s   ", line)
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// total is how many operations a count-bound run does (0: time-bound).
func (r *run) total() int64 {
	switch r.cfg.Scenario {
	case "create":
		return int64(r.cfg.Clients * r.cfg.Count)
	case "connect":
		return int64(r.cfg.Count)
	}
	return 0
}
