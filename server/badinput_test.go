package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/server"
	"txxt/wire"
	"txxt/world"
)

// TestBadInput is docs/RELIABILITY.md's table "Bad input, row by row": one
// subtest per row, against the real server over real WebSockets and HTTP.
//
// Every row sends its bad input on a connection of its own (the offender)
// and checks the answer: the Error's code and request id on txxt.v1, and on
// the original protocol, which has no answer frame, that nothing comes back
// and the server counted the frame (/api/status "dropped", or the engine's
// refusals). Then it checks what became of the connection (open, or closed
// with a given code) and that everyone carries on: a good command from the
// offender (or, when it was closed, from a new connection) is applied at
// exactly the next revision (so the bad input applied nothing it should
// not have), and two bystanders, one of each protocol, connected for the
// whole test and read without pause, get its event.
//
// The frame rows are generated from the codec: every frame type the
// decoder knows for each version, one byte short, one byte long, with its
// text fields invalid or too long, with bad enum values.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	for _, r := range badInputRows() {
		t.Run(r.name, func(t *testing.T) {
			e.run(t, r)
		})
	}
}

// clock is the server's clock in this test: frozen, so that a connection's
// rate-limit bucket refills only when a row moves the clock on.
type clock struct {
	base time.Time
	skew atomic.Int64
	beat func() // the server's heartbeat, so an advance is time the server ran, not a pause
}

func (c *clock) now() time.Time { return c.base.Add(time.Duration(c.skew.Load())) }

// advance moves the clock on by d in steps the heartbeat notes, as time
// that passed while the server ran (a jump without beats is a pause,
// which the server credits to every command budget).
func (c *clock) advance(d time.Duration) {
	for d > 0 {
		step := min(d, time.Second)
		c.skew.Add(int64(step))
		d -= step
		if c.beat != nil {
			c.beat()
		}
	}
}

type env struct {
	h          *harness
	clock      *clock
	svc, svc2  world.ID // services for tasks and SetService
	bob        world.ID // a user, to assign tasks to
	bystanders []*bystander
	good       int // good commands sent so far (each gets a unique title)
}

// The server's limits in this test: the defaults (server.Limits), written
// out so that the rows can count with them.
const (
	rateLimit = 200
	rateBurst = 400
	maxFrame  = 64 << 10
	maxBad    = 16
	maxBody   = 64 << 10
	pingBurst = 20
)

func newEnv(t *testing.T) *env {
	clk := &clock{base: time.Now()}
	h := start(t, options{noSync: true, cfg: server.Config{
		Now:            clk.now,
		TelemetryEvery: time.Hour, // no telemetry frame in a control queue a row fills
		Limits: server.Limits{MaxFrame: maxFrame, MaxBadFrames: maxBad, CommandRate: rateLimit,
			CommandBurst: rateBurst, MaxBody: maxBody},
	}})
	clk.beat = h.srv.Beat
	e := &env{h: h, clock: clk, svc: h.service("Ops"), svc2: h.service("Dev")}
	acc, err := h.srv.Accounts().Get("bob")
	if err != nil {
		t.Fatal(err)
	}
	e.bob = acc.ID
	e.bystanders = []*bystander{watch(t, h, true, h.member), watch(t, h, false, h.admin)}
	// Each bystander subscribes when its writer starts, after the upgrade:
	// until its Snapshot is there, a row's command could be in it rather
	// than an event after it.
	for _, b := range e.bystanders {
		b.snapshot(t)
	}
	return e
}

// bystander is a connection that stays open through every row, read
// without pause by a goroutine of its own, so that it never slows the
// server down whatever a row sends.
type bystander struct {
	v1     bool
	mu     sync.Mutex
	frames []wire.ServerFrame
	err    error         // why the connection ended
	more   chan struct{} // a token when frames or err changed
	seen   int           // frames already looked at
	last   uint64        // v1: the last revision seen
}

func watch(t *testing.T, h *harness, v1 bool, token string) *bystander {
	ws, _, err := h.dialRaw(v1, "", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("bystander: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	b := &bystander{v1: v1, more: make(chan struct{}, 1)}
	go func() {
		for {
			_, raw, err := ws.Read(context.Background())
			var f wire.ServerFrame
			if err == nil {
				if f, err = wire.DecodeServerFrame(raw, v1); err != nil {
					err = fmt.Errorf("a frame that does not decode: %v (% x)", err, raw)
				}
			}
			b.mu.Lock()
			if err != nil {
				b.err = err
			} else {
				b.frames = append(b.frames, f)
			}
			b.mu.Unlock()
			select {
			case b.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return b
}

// snapshot waits for the bystander's first Snapshot.
func (b *bystander) snapshot(t *testing.T) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		for _, f := range b.frames {
			if f.Type == wire.TypeSnapshot {
				b.mu.Unlock()
				return
			}
		}
		err := b.err
		b.mu.Unlock()
		if err != nil {
			t.Fatalf("%s's connection ended before its Snapshot: %v", b.name(), err)
		}
		select {
		case <-b.more:
		case <-deadline.C:
			t.Fatalf("%s got no Snapshot within %s", b.name(), wait)
		}
	}
}

func (b *bystander) name() string {
	if b.v1 {
		return "the v1 bystander"
	}
	return "the v0 bystander"
}

// created waits for the TaskCreated of the task titled title and returns
// its revision. On the way, a v1 bystander's events must follow one
// another with no gap, and it must get nothing but events and control
// frames (it sends nothing, so it has nothing to be answered).
func (b *bystander) created(t *testing.T, title string) uint64 {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		for b.seen < len(b.frames) {
			f := b.frames[b.seen]
			b.seen++
			switch {
			case f.Type == wire.TypeSnapshot:
				b.last = f.Snapshot.Revision
			case wire.IsEvent(f.Type):
				if b.v1 && f.Event.Revision != b.last+1 {
					b.mu.Unlock()
					t.Fatalf("%s got revision %d after %d", b.name(), f.Event.Revision, b.last)
				}
				b.last = f.Event.Revision
				if f.Type == wire.TypeTaskCreated && f.Event.Task.Title == title {
					b.mu.Unlock()
					return f.Event.Revision
				}
			case b.v1 && (isControl(f.Type) || f.Type == wire.TypeWelcome):
			default:
				b.mu.Unlock()
				t.Fatalf("%s got frame 0x%02x %+v", b.name(), f.Type, f)
			}
		}
		err := b.err
		b.mu.Unlock()
		if err != nil {
			t.Fatalf("%s's connection ended: %v", b.name(), err)
		}
		select {
		case <-b.more:
		case <-deadline.C:
			t.Fatalf("%s never got the task %q", b.name(), title)
		}
	}
}

// dial opens an offender's connection, as the admin (the only one whose
// SetGrid is accepted), owned by the subtest t.
func (e *env) dial(t *testing.T, v1 bool) *client {
	t.Helper()
	ws, _, err := e.h.dialRaw(v1, "", http.Header{"Authorization": {"Bearer " + e.h.admin}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws, v1: v1}
}

// carryOn checks that the server and everyone carry on after a row: a good
// command, from off if it is still open, else from a new connection, is
// applied at rev+1 (rev: where the world should be after the bad input),
// and both bystanders get its event.
func (e *env) carryOn(t *testing.T, off *client, rev uint64) {
	t.Helper()
	e.good++
	title := fmt.Sprintf("after row %d", e.good)
	cmd := newTask(e.svc, title)
	want := rev + 1
	if off == nil {
		off = e.dial(t, true)
		if _, snap := off.handshake(); snap.Revision != rev {
			t.Fatalf("the world is at %d, want %d", snap.Revision, rev)
		}
	}
	if off.v1 {
		req := uint32(0xC0DE0000 + e.good)
		off.send(req, cmd)
		f, events := off.answer(req)
		if f.Type != wire.TypeAck || f.Ack.Revision != want {
			t.Fatalf("good command after the row: answered %+v %+v, want an Ack at %d", f.Ack, f.Error, want)
		}
		if len(events) != 1 || events[0].Task.Title != title {
			t.Fatalf("good command after the row: events %+v before its Ack", events)
		}
	} else {
		off.send(0, cmd)
		if f := off.next(); f.Type != wire.TypeTaskCreated || f.Event.Revision != want || f.Event.Task.Title != title {
			t.Fatalf("good command after the row: got 0x%02x %+v, want TaskCreated at %d", f.Type, f.Event, want)
		}
	}
	for _, b := range e.bystanders {
		if got := b.created(t, title); got != want {
			t.Fatalf("%s got the good command's event at %d, want %d", b.name(), got, want)
		}
	}
}

// counters are what the server counts of refused input.
type counters struct {
	badFrame, rateLimited, tooLarge, rejected uint64
}

func (e *env) counters(t *testing.T) counters {
	d := e.h.srv.Dropped() // what /api/status shows as "dropped"
	return counters{badFrame: d["bad_frame"], rateLimited: d["rate_limited"],
		tooLarge: d["frame_too_large"], rejected: e.h.eng.Stats().Rejected}
}

func (c counters) reached(o counters) bool {
	return c.badFrame >= o.badFrame && c.rateLimited >= o.rateLimited && c.tooLarge >= o.tooLarge && c.rejected >= o.rejected
}

func (c counters) minus(o counters) counters {
	return counters{c.badFrame - o.badFrame, c.rateLimited - o.rateLimited, c.tooLarge - o.tooLarge, c.rejected - o.rejected}
}

// count is what one refusal adds to the counters.
func count(code world.Code) counters {
	switch code {
	case world.CodeNone:
		return counters{}
	case world.CodeBadFrame, world.CodeUnknownType:
		return counters{badFrame: 1}
	case world.CodeRateLimited:
		return counters{rateLimited: 1}
	case world.CodeFrameTooLarge:
		return counters{tooLarge: 1}
	case world.CodeInvalidTimeZone, world.CodeForbidden:
		return counters{} // the server refuses it before the engine: it looks the zone up, it knows the role
	}
	return counters{rejected: 1} // the world's rules
}

func (c counters) plus(o counters) counters {
	return counters{c.badFrame + o.badFrame, c.rateLimited + o.rateLimited, c.tooLarge + o.tooLarge, c.rejected + o.rejected}
}

// rest sends a JSON API request owned by the subtest t.
func rest(t *testing.T, h *harness, method, path, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.hs.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, raw
}

// A row is one kind of bad input. Frame rows (steps) send frames on one
// offender connection; the others (run) do what they need.
type row struct {
	name  string
	v1    bool
	steps func(t *testing.T, e *env) []step // sets the world up, returns the frames
	close websocket.StatusCode              // frame rows: 0 if the connection stays open
	// run, for the rows that are not a list of frames: it returns the
	// offender if its connection is still open (or nil), and the
	// revision the world must be at.
	run func(t *testing.T, e *env) (*client, uint64)
}

// A step is one frame and what the server makes of it.
type step struct {
	frame []byte
	text  bool       // sent as a WebSocket text message
	code  world.Code // the refusal (CodeNone: accepted)
	req   uint32     // the request id the answer must carry
	quiet bool       // no answer comes, even on v1 (the frame that closes the connection; ClientStats)
	pong  bool       // accepted Ping: a Pong echoes req as its nonce
	event string     // accepted command: the title or name its event must carry ("-": not checked)
	msg   string     // when set, the Error's message must hold this
}

func (e *env) run(t *testing.T, r row) {
	// The command budget is the user's, shared by every row's offender
	// (all the admin) and a bystander: each row starts with it full.
	e.clock.advance(rateBurst / rateLimit * time.Second)
	if r.run != nil {
		off, rev := r.run(t, e)
		e.carryOn(t, off, rev)
		return
	}
	before := e.counters(t)
	steps := r.steps(t, e)
	off := e.dial(t, r.v1)
	_, snap := off.handshake()
	rev := snap.Revision
	if now := e.h.eng.Revision(); now != rev {
		t.Fatalf("snapshot at %d, world at %d", rev, now)
	}
	var want counters
	for i, s := range steps {
		typ := websocket.MessageBinary
		if s.text {
			typ = websocket.MessageText
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err := off.ws.Write(ctx, typ, s.frame)
		cancel()
		if err != nil {
			t.Fatalf("step %d: write: %v", i, err)
		}
		want = want.plus(count(s.code))
		switch {
		case s.quiet:
		case s.pong:
			if f := off.next(); f.Type != wire.TypePong || f.Pong.Nonce != s.req {
				t.Fatalf("step %d: got 0x%02x %+v, want a Pong for %d", i, f.Type, f, s.req)
			}
		case s.code == world.CodeNone:
			rev++
			var ev world.Event
			if r.v1 {
				f, events := off.answer(s.req)
				if f.Type != wire.TypeAck || f.Ack.Revision != rev || len(events) != 1 {
					t.Fatalf("step %d: answered %+v %+v after %d events, want an Ack at %d after its event", i, f.Ack, f.Error, len(events), rev)
				}
				ev = events[0]
			} else {
				f := off.next()
				if !wire.IsEvent(f.Type) {
					t.Fatalf("step %d: got 0x%02x, want the command's event", i, f.Type)
				}
				ev = f.Event
			}
			if ev.Revision != rev {
				t.Fatalf("step %d: event at %d, want %d", i, ev.Revision, rev)
			}
			if got := eventText(ev); s.event != "-" && got != s.event {
				t.Fatalf("step %d: applied with the text %q, want %q", i, got, s.event)
			}
		case r.v1:
			f, events := off.answer(s.req)
			if f.Type != wire.TypeError || f.Error.Code != s.code || len(events) != 0 {
				t.Fatalf("step %d: answered 0x%02x %+v %+v after %d events, want Error %s for request %d", i, f.Type, f.Ack, f.Error, len(events), s.code, s.req)
			}
			if f.Error.Message == "" || !strings.Contains(f.Error.Message, s.msg) {
				t.Fatalf("step %d: message %q, want one holding %q", i, f.Error.Message, s.msg)
			}
			// A refusal is for a person; a frame that does not decode is
			// a program's bug, and its words are for its author.
			if m := f.Error.Message; uuidRe.MatchString(m) || f.Error.Code != world.CodeBadFrame && f.Error.Code != world.CodeUnknownType && !strings.HasSuffix(m, ".") {
				t.Fatalf("step %d: message %q is not a person's sentence without an id", i, m)
			}
		}
	}
	if r.close != 0 {
		if code := closedQuietly(t, off); code != r.close {
			t.Fatalf("closed with %d, want %d", code, r.close)
		}
		off = nil
	}
	e.carryOn(t, off, rev)
	// The engine publishes a batch's events before it counts the batch's
	// refusals, so the good command's event can come first: wait until
	// the counts reach what the row expects (they only grow), then they
	// must be exactly that.
	eventually(t, "the server has counted the row's input", func() bool { return e.counters(t).minus(before).reached(want) })
	if got := e.counters(t).minus(before); got != want {
		t.Fatalf("the server counted %+v, want %+v", got, want)
	}
}

// closedQuietly reads until the connection ends and returns its close
// code; nothing but control frames may come first.
func closedQuietly(t *testing.T, c *client) websocket.StatusCode {
	t.Helper()
	for {
		_, f, err := c.readErr()
		if err != nil {
			return websocket.CloseStatus(err)
		}
		if !isControl(f.Type) {
			t.Fatalf("got frame 0x%02x %+v, want the connection closed", f.Type, f)
		}
	}
}

func eventText(ev world.Event) string {
	switch ev.Kind {
	case world.EvTaskCreated, world.EvTaskRenamed:
		return ev.Task.Title
	case world.EvServiceCreated, world.EvServiceRenamed:
		return ev.Service.Name
	case world.EvScheduleChanged:
		return ev.Schedule.TimeZone
	case world.EvHolidayAdded:
		return ev.Holiday.Name
	case world.EvTimeOffAdded:
		return ev.TimeOff.Note
	}
	return ""
}

// clientTypes returns every frame type a client may send in a protocol
// version, as the codec knows them: each type byte its decoder does not
// call UNKNOWN_TYPE.
func clientTypes(v1 bool) []byte {
	var out []byte
	frame := make([]byte, 256)
	for b := range 256 {
		frame[0] = byte(b)
		if _, err := wire.DecodeCommand(frame, v1); !isCode(err, world.CodeUnknownType) {
			out = append(out, byte(b))
		}
	}
	return out
}

// serverTypes returns every frame type the server sends (v1).
func serverTypes() []byte {
	var out []byte
	frame := make([]byte, 256)
	for b := range 256 {
		frame[0] = byte(b)
		if _, err := wire.DecodeServerFrame(frame, true); !isCode(err, world.CodeUnknownType) {
			out = append(out, byte(b))
		}
	}
	return out
}

// kindOf names the command of a frame type: the kind of the first frame
// of that type (all zeros after the type byte) that decodes.
func kindOf(v1 bool, typ byte) world.CommandKind {
	for n := 1; n <= 256; n++ {
		f := make([]byte, n)
		f[0] = typ
		if fr, err := wire.DecodeCommand(f, v1); err == nil {
			return fr.Command.Kind
		}
	}
	return 0
}

func isCode(err error, code world.Code) bool {
	var werr *world.Error
	return errors.As(err, &werr) && werr.Code == code
}

// A fixture makes, for one command frame type, a command the world accepts
// as it stands (after setting up what the command needs), with text in
// its text field.
type fixture struct {
	text     string // the frame's text field: "title", "name", "time zone", "note", or "" for none
	priority bool   // the frame has a priority byte
	grid     bool   // the frame has a grid
	color    bool   // the frame has a colour
	flag     bool   // the frame ends with a flag byte (0 or 1)
	schedule bool   // the frame has a schedule
	command  func(t *testing.T, e *env, text string) world.Command
}

var (
	someDay    = world.Slot{Date: 20000, Start: 9 * 60, Duration: 60}
	anotherDay = world.Slot{Date: 20001, Start: 10 * 60, Duration: 30}
)

var fixtures = map[byte]fixture{
	wire.TypeCreateTask: {text: "title", priority: true, command: func(t *testing.T, e *env, text string) world.Command {
		return world.Command{Kind: world.CmdCreateTask, Service: e.svc, Priority: world.Medium, Slot: world.NoSlot, Text: text}
	}},
	wire.TypeScheduleTask: {command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdScheduleTask, Task: e.task(t, world.Staged), Slot: someDay}
	}},
	wire.TypeMoveTask: {command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdMoveTask, Task: e.task(t, world.Scheduled), Slot: anotherDay}
	}},
	wire.TypeUnscheduleTask: {command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdUnscheduleTask, Task: e.task(t, world.Scheduled)}
	}},
	wire.TypeCompleteTask: {command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdCompleteTask, Task: e.task(t, world.Active)}
	}},
	wire.TypeDeleteTask: {command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdDeleteTask, Task: e.task(t, world.Completed)}
	}},
	wire.TypeCloneTask: {command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdCloneTask, Source: e.task(t, world.Scheduled), Slot: anotherDay}
	}},
	wire.TypeRenameTask: {text: "title", command: func(t *testing.T, e *env, text string) world.Command {
		return world.Command{Kind: world.CmdRenameTask, Task: e.task(t, world.Staged), Text: text}
	}},
	wire.TypeSetPriority: {priority: true, command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdSetPriority, Task: e.task(t, world.Staged), Priority: world.Urgent}
	}},
	wire.TypeAssignTask: {command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdAssignTask, Task: e.task(t, world.Scheduled), Assignee: e.bob}
	}},
	wire.TypeStartTask: {command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdStartTask, Task: e.task(t, world.Scheduled)}
	}},
	wire.TypeReopenTask: {command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdReopenTask, Task: e.task(t, world.Completed)}
	}},
	wire.TypeCreateService: {text: "name", command: func(t *testing.T, e *env, text string) world.Command {
		return world.Command{Kind: world.CmdCreateService, Text: text}
	}},
	wire.TypeRenameService: {text: "name", command: func(t *testing.T, e *env, text string) world.Command {
		svc := engine.RandomID()
		e.do(t, world.Command{Kind: world.CmdCreateService, Service: svc, Text: "to rename"})
		return world.Command{Kind: world.CmdRenameService, Service: svc, Text: text}
	}},
	wire.TypeSetGrid: {grid: true, command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdSetGrid, Grid: world.DefaultGrid} // the slots above stay on it
	}},
	wire.TypeSetService: {command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdSetService, Task: e.task(t, world.Staged), Service: e.svc2}
	}},
	wire.TypeRecolorService: {color: true, command: func(t *testing.T, e *env, _ string) world.Command {
		return world.Command{Kind: world.CmdRecolorService, Service: e.svc, Color: 0x3B82F6}
	}},
	wire.TypeArchiveService: {flag: true, command: func(t *testing.T, e *env, _ string) world.Command {
		svc := engine.RandomID() // not e.svc: the other rows create tasks in it
		e.do(t, world.Command{Kind: world.CmdCreateService, Service: svc, Text: "to archive"})
		return world.Command{Kind: world.CmdArchiveService, Service: svc, Archived: true}
	}},
	wire.TypeSetSchedule: {text: "time zone", schedule: true, command: func(t *testing.T, e *env, text string) world.Command {
		return world.Command{Kind: world.CmdSetSchedule, Schedule: world.Schedule{WorkdayStart: 480, WorkdayEnd: 1080, FirstDay: 0, TimeZone: text}}
	}},
	wire.TypeAddHoliday: {text: "name", command: func(t *testing.T, e *env, text string) world.Command {
		return world.Command{Kind: world.CmdAddHoliday, Holiday: world.Holiday{Date: someDay.Date, Name: text}}
	}},
	wire.TypeRemoveHoliday: {command: func(t *testing.T, e *env, _ string) world.Command {
		e.do(t, world.Command{Kind: world.CmdAddHoliday, Holiday: world.Holiday{Date: anotherDay.Date, Name: "to remove"}})
		return world.Command{Kind: world.CmdRemoveHoliday, Holiday: world.Holiday{Date: anotherDay.Date}}
	}},
	wire.TypeAddTimeOff: {text: "note", command: func(t *testing.T, e *env, text string) world.Command {
		// A user of its own, so that no row's time off overlaps another's.
		user := engine.RandomID()
		e.do(t, world.Command{Kind: world.CmdCreateUser, User: user, Text: "on leave"})
		return world.Command{Kind: world.CmdAddTimeOff, TimeOff: world.TimeOff{User: user, From: someDay.Date, To: someDay.Date + 4, Note: text}}
	}},
	wire.TypeRemoveTimeOff: {command: func(t *testing.T, e *env, _ string) world.Command {
		user, off := engine.RandomID(), engine.RandomID()
		e.do(t, world.Command{Kind: world.CmdCreateUser, User: user, Text: "back from leave"})
		e.do(t, world.Command{Kind: world.CmdAddTimeOff, TimeOff: world.TimeOff{ID: off, User: user, From: someDay.Date, To: someDay.Date}})
		return world.Command{Kind: world.CmdRemoveTimeOff, TimeOff: world.TimeOff{ID: off, User: user}}
	}},
}

// do applies c through the engine.
func (e *env) do(t *testing.T, c world.Command) {
	t.Helper()
	res, err := e.h.eng.Do(context.Background(), engine.Request{Command: c})
	if err != nil || res.Err != nil {
		t.Fatalf("%s: %v %v", c.Kind, err, res.Err)
	}
}

// task creates a task in the given status.
func (e *env) task(t *testing.T, status world.Status) world.ID {
	t.Helper()
	c := newTask(e.svc, "fixture")
	c.Task = engine.RandomID()
	if status != world.Staged {
		c.Slot = someDay
	}
	e.do(t, c)
	switch status {
	case world.Active:
		e.do(t, world.Command{Kind: world.CmdStartTask, Task: c.Task})
	case world.Completed:
		e.do(t, world.Command{Kind: world.CmdCompleteTask, Task: c.Task})
	}
	return c.Task
}

func protoName(v1 bool) string {
	if v1 {
		return "v1"
	}
	return "v0"
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

// badInputRows lists every row of the table.
func badInputRows() []row {
	var rows []row
	for _, v1 := range []bool{false, true} {
		for _, typ := range clientTypes(v1) {
			rows = append(rows, frameTypeRows(v1, typ)...)
		}
		rows = append(rows, frameRows(v1)...)
	}
	rows = append(rows, floodRows()...)
	rows = append(rows, sessionRows()...)
	rows = append(rows, restRows()...)
	return rows
}

// frameTypeRows are the rows of one client frame type of one version.
func frameTypeRows(v1 bool, typ byte) []row {
	p := protoName(v1)
	switch {
	case v1 && typ == wire.TypePing:
		return controlRows(p, "Ping", func(nonce uint32) []byte {
			return wire.AppendPing(nil, &wire.Ping{Nonce: nonce, ClientTime: 1})
		}, true)
	case v1 && typ == wire.TypeClientStats:
		return controlRows(p, "ClientStats", func(uint32) []byte {
			return wire.AppendClientStats(nil, &wire.ClientStats{RTTp50: 1, RTTp95: 2, FPS: 60})
		}, false)
	}
	fx, ok := fixtures[typ]
	if !ok {
		return []row{{name: fmt.Sprintf("%s type 0x%02x has a fixture", p, typ), v1: v1, steps: func(t *testing.T, e *env) []step {
			t.Fatalf("the codec knows client frame type 0x%02x (%s): add it to fixtures", typ, p)
			return nil
		}}}
	}
	kind := kindOf(v1, typ)
	name := func(what string) string { return fmt.Sprintf("%s %s %s", p, kind, what) }
	goodText := map[string]string{"title": "good title", "name": "good name", "time zone": "Europe/Berlin", "note": "good note"}[fx.text]
	frame := func(req uint32, c world.Command) []byte { return wire.AppendCommand(nil, v1, req, &c) }
	// reqOf is the request id an answer to frame carries: bytes 1-4 on
	// v1 when the frame holds them, else 0.
	reqOf := func(frame []byte) uint32 {
		if v1 && len(frame) >= 5 {
			return uint32(frame[1]) | uint32(frame[2])<<8 | uint32(frame[3])<<16 | uint32(frame[4])<<24
		}
		return 0
	}
	// one makes a row of a single frame, built from the fixture's command
	// with text, then changed by edit; want is the answer (and the text
	// an accepted command's event carries).
	one := func(what, text string, edit func(c *world.Command, f []byte) []byte, code world.Code, applied string) row {
		return row{name: name(what), v1: v1, steps: func(t *testing.T, e *env) []step {
			c := fx.command(t, e, text)
			f := edit(&c, frame(0x5EED0001, c))
			return []step{{frame: f, code: code, req: reqOf(f), event: applied}}
		}}
	}
	same := func(_ *world.Command, f []byte) []byte { return f }
	rows := []row{one("as a correct client sends it", goodText, same, world.CodeNone, orDash(goodText))}
	if fx.text == "" {
		rows = append(rows,
			one("one byte short", "", func(_ *world.Command, f []byte) []byte { return f[:len(f)-1] }, world.CodeBadFrame, ""),
			one("one byte long, a zero byte", "", func(_ *world.Command, f []byte) []byte { return append(f, 0) }, world.CodeBadFrame, ""),
			one("one byte long, not a zero", "", func(_ *world.Command, f []byte) []byte { return append(f, 'x') }, world.CodeBadFrame, ""))
	} else {
		empty := world.CodeNone // an empty title is a title; an empty name is not a name
		tooLong := world.CodeTitleTooLong
		limit := world.MaxTitle
		badText := world.CodeInvalidText
		switch fx.text {
		case "name":
			empty, tooLong, limit = world.CodeInvalidName, world.CodeNameTooLong, world.MaxName
		case "note": // a time off's note may be empty
			tooLong, limit = world.CodeNameTooLong, world.MaxName
		case "time zone": // a zone the server knows (the world checks only the shape of a name)
			empty, tooLong, limit, badText = world.CodeInvalidTimeZone, world.CodeInvalidTimeZone, world.MaxTimeZone, world.CodeInvalidTimeZone
		}
		// A text cut or extended is still a name, but a time zone's
		// neighbours are no zones the server knows.
		edited, editedCode := goodText[:len(goodText)-1], world.CodeNone
		longest, longestCode := strings.Repeat("x", limit), world.CodeNone
		if fx.text == "time zone" {
			edited, editedCode, longest, longestCode = "", world.CodeInvalidTimeZone, "", world.CodeInvalidTimeZone
		}
		rows = append(rows,
			one("one byte short, its text one byte shorter", goodText, func(_ *world.Command, f []byte) []byte { return f[:len(f)-1] }, editedCode, edited),
			one("one byte short of its shortest, no text", "", func(_ *world.Command, f []byte) []byte { return f[:len(f)-1] }, world.CodeBadFrame, ""),
			one("with an empty "+fx.text, "", same, empty, ""),
			one("one byte long, a zero byte, stripped", goodText, func(_ *world.Command, f []byte) []byte { return append(f, 0) }, world.CodeNone, goodText),
			one("one byte long, not a zero, part of the text", goodText, func(_ *world.Command, f []byte) []byte { return append(f, 'x') }, editedCode, map[bool]string{true: goodText + "x"}[editedCode == world.CodeNone]),
			one("with invalid UTF-8 in its "+fx.text, "bad \xff\xfe text", same, badText, ""),
			one("with a UTF-8 sequence cut at the end of its "+fx.text, "caf\xc3", same, badText, ""),
			one("with a NUL inside its "+fx.text, "a\x00b", same, badText, ""),
			one(fmt.Sprintf("with a %d-byte %s, the most", limit, fx.text), strings.Repeat("x", limit), same, longestCode, longest),
			one(fmt.Sprintf("with a %d-byte %s", limit+1, fx.text), strings.Repeat("x", limit+1), same, tooLong, ""),
		)
		if fx.text == "name" {
			rows = append(rows, one(fmt.Sprintf("with a %d-byte %s", world.MaxTitle+1, fx.text), strings.Repeat("x", world.MaxTitle+1), same, tooLong, ""))
		}
	}
	if fx.priority {
		for _, p := range []world.Priority{4, 255} {
			rows = append(rows, one(fmt.Sprintf("with priority %d", p), goodText, func(c *world.Command, _ []byte) []byte {
				c.Priority = p
				return frame(0x5EED0001, *c)
			}, world.CodeInvalidPriority, ""))
		}
	}
	if fx.grid {
		for _, g := range []uint16{0, 7, 61, 0xFFFF} {
			rows = append(rows, one(fmt.Sprintf("with grid %d", g), "", func(c *world.Command, _ []byte) []byte {
				c.Grid = g
				return frame(0x5EED0001, *c)
			}, world.CodeInvalidGrid, ""))
		}
	}
	if fx.color {
		for _, c := range []uint32{0x1000000, 0xFFFFFFFF} {
			rows = append(rows, one(fmt.Sprintf("with colour %#x", c), "", func(cmd *world.Command, _ []byte) []byte {
				cmd.Color = c
				return frame(0x5EED0001, *cmd)
			}, world.CodeInvalidColor, ""))
		}
	}
	if fx.flag {
		for _, b := range []byte{2, 0xFF} {
			rows = append(rows, one(fmt.Sprintf("with flag byte %d", b), "", func(_ *world.Command, f []byte) []byte {
				f[len(f)-1] = b
				return f
			}, world.CodeBadFrame, ""))
		}
	}
	if fx.schedule {
		for _, bad := range []struct {
			what       string
			start, end uint16
			first      uint8
			code       world.Code
		}{
			{"a workday that ends before it starts", 1080, 480, 0, world.CodeInvalidTime},
			{"a workday that ends after midnight", 480, 1441, 0, world.CodeInvalidTime},
			{"first day of the week 7", 480, 1080, 7, world.CodeInvalidDate},
		} {
			rows = append(rows, one("with "+bad.what, goodText, func(c *world.Command, _ []byte) []byte {
				c.Schedule.WorkdayStart, c.Schedule.WorkdayEnd, c.Schedule.FirstDay = bad.start, bad.end, bad.first
				return frame(0x5EED0001, *c)
			}, bad.code, ""))
		}
	}
	if v1 {
		// Too short to hold the request id: the Error says request 0.
		rows = append(rows, row{name: name("cut inside its request id"), v1: v1, steps: func(t *testing.T, e *env) []step {
			return []step{
				{frame: []byte{typ}, code: world.CodeBadFrame},
				{frame: []byte{typ, 1, 2, 3}, code: world.CodeBadFrame},
			}
		}})
	}
	return rows
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// controlRows are the rows of Ping and ClientStats (v1, no request id: an
// Error about them says request 0).
func controlRows(p, kind string, make func(nonce uint32) []byte, pong bool) []row {
	good := func(nonce uint32) step {
		return step{frame: make(nonce), req: nonce, pong: pong, quiet: !pong}
	}
	return []row{
		{name: p + " " + kind + " as a correct client sends it", v1: true, steps: func(t *testing.T, e *env) []step {
			return []step{good(7)}
		}},
		{name: p + " " + kind + " one byte short", v1: true, steps: func(t *testing.T, e *env) []step {
			f := make(7)
			return []step{{frame: f[:len(f)-1], code: world.CodeBadFrame}, good(8)}
		}},
		{name: p + " " + kind + " one byte long", v1: true, steps: func(t *testing.T, e *env) []step {
			return []step{{frame: append(make(7), 0), code: world.CodeBadFrame}, good(8)}
		}},
	}
}

// frameRows are the rows about frames in general, for one version.
func frameRows(v1 bool) []row {
	p := protoName(v1)
	// reset is a frame that decodes (so ends a run of malformed frames)
	// and changes nothing.
	reset := func() step {
		c := world.Command{Kind: world.CmdDeleteTask, Task: engine.RandomID()}
		if v1 {
			return step{frame: wire.AppendCommand(nil, true, 99, &c), code: world.CodeTaskNotFound, req: 99}
		}
		return step{frame: wire.AppendCommand(nil, false, 0, &c), code: world.CodeTaskNotFound}
	}
	// unknown sends every type byte of types, each with a request id,
	// with a reset after every maxBad-1 of them.
	unknown := func(types func() []byte) func(t *testing.T, e *env) []step {
		return func(t *testing.T, e *env) []step {
			var steps []step
			for i, b := range types() {
				if i > 0 && i%(maxBad-1) == 0 {
					steps = append(steps, reset())
				}
				req := uint32(0xAB000000) | uint32(b)
				steps = append(steps, step{frame: append([]byte{b}, le32(req)...), code: world.CodeUnknownType, req: req})
			}
			if len(steps) == 0 {
				t.Fatal("no type bytes")
			}
			return steps
		}
	}
	known := map[byte]bool{}
	for _, b := range clientTypes(v1) {
		known[b] = true
	}
	v1Only := func() (out []byte) {
		v0 := map[byte]bool{}
		for _, b := range clientTypes(false) {
			v0[b] = true
		}
		for _, b := range clientTypes(true) {
			if !v0[b] {
				out = append(out, b)
			}
		}
		return out
	}
	server := func() (out []byte) {
		for _, b := range serverTypes() {
			if !known[b] {
				out = append(out, b)
			}
		}
		return out
	}
	others := func() (out []byte) {
		skip := map[byte]bool{}
		for _, b := range append(server(), v1Only()...) {
			skip[b] = true
		}
		for b := range 256 {
			if !known[byte(b)] && !skip[byte(b)] {
				out = append(out, byte(b))
			}
		}
		return out
	}
	createService := func(req uint32, n int) []byte { // v1: type · request id · name, n bytes in all
		return append(append([]byte{wire.TypeCreateService}, le32(req)...), strings.Repeat("x", n-5)...)
	}
	createTask := func(e *env, req uint32, n int) []byte { // the CreateTask of this version, n bytes in all
		c := world.Command{Kind: world.CmdCreateTask, Service: e.svc, Slot: world.NoSlot}
		f := wire.AppendCommand(nil, v1, req, &c)
		return append(f, strings.Repeat("x", n-len(f))...)
	}
	garbage := func(i int) step {
		req := uint32(0x6A000000 + i)
		return step{frame: append([]byte{0x77}, le32(req)...), code: world.CodeUnknownType, req: req}
	}
	rows := []row{
		{name: p + " every server frame type sent by a client", v1: v1, steps: unknown(server)},
		{name: p + " every other unknown type byte", v1: v1, steps: unknown(others)},
		{name: p + " an unknown type byte alone", v1: v1, steps: func(t *testing.T, e *env) []step {
			return []step{{frame: []byte{0x77}, code: world.CodeUnknownType}, {frame: []byte{0x77, 1, 2, 3}, code: world.CodeUnknownType}}
		}},
		{name: p + " an empty binary frame", v1: v1, steps: func(t *testing.T, e *env) []step {
			return []step{{frame: []byte{}, code: world.CodeBadFrame, msg: "empty"}}
		}},
		{name: p + " a text frame holding a good command", v1: v1, steps: func(t *testing.T, e *env) []step {
			c := newTask(e.svc, "sent as text")
			return []step{{frame: wire.AppendCommand(nil, v1, 0x5EED0001, &c), text: true, code: world.CodeBadFrame, msg: "text"}}
		}},
		{name: p + " an empty text frame", v1: v1, steps: func(t *testing.T, e *env) []step {
			return []step{{frame: []byte{}, text: true, code: world.CodeBadFrame, msg: "text"}}
		}},
		{name: p + " a frame of exactly the size limit", v1: v1, steps: func(t *testing.T, e *env) []step {
			if v1 {
				return []step{{frame: createService(0x5EED0001, maxFrame), code: world.CodeNameTooLong, req: 0x5EED0001}}
			}
			return []step{{frame: createTask(e, 0, maxFrame), code: world.CodeTitleTooLong}}
		}},
		{name: p + " a frame one byte over the size limit", v1: v1, close: websocket.StatusMessageTooBig, steps: func(t *testing.T, e *env) []step {
			if v1 {
				return []step{{frame: createService(0x5EED0001, maxFrame+1), code: world.CodeFrameTooLarge, quiet: true}}
			}
			return []step{{frame: createTask(e, 0, maxFrame+1), code: world.CodeFrameTooLarge, quiet: true}}
		}},
		{name: p + " malformed frames, as many in a row as allowed, then a good command", v1: v1, steps: func(t *testing.T, e *env) []step {
			var steps []step
			for i := range maxBad {
				steps = append(steps, garbage(i))
			}
			c := newTask(e.svc, "after the garbage")
			return append(steps, step{frame: wire.AppendCommand(nil, v1, 0x5EED0001, &c), req: 0x5EED0001, event: "after the garbage"})
		}},
		{name: p + " malformed frames, one more in a row than allowed", v1: v1, close: 4001, steps: func(t *testing.T, e *env) []step {
			var steps []step
			for i := range maxBad {
				steps = append(steps, garbage(i))
			}
			last := garbage(maxBad)
			last.quiet = true
			return append(steps, last)
		}},
	}
	if v1 {
		// A Ping between malformed frames is answered but does not end
		// their run: garbage interleaved with Pings still closes.
		rows = append(rows, row{name: p + " malformed frames with a Ping between each, one more than allowed", v1: v1, close: 4001, steps: func(t *testing.T, e *env) []step {
			var steps []step
			for i := range maxBad {
				steps = append(steps, garbage(i), step{frame: wire.AppendPing(nil, &wire.Ping{Nonce: uint32(1000 + i)}), req: uint32(1000 + i), pong: true})
			}
			last := garbage(maxBad)
			last.quiet = true
			return append(steps, last)
		}})
	}
	if !v1 {
		rows = append(rows, row{name: p + " every txxt.v1 frame type", v1: v1, steps: unknown(v1Only)})
	}
	return rows
}

// floodRows send commands faster than the rate limit. The server's clock
// stands still, so exactly rateBurst commands find a token and the rest
// are refused; then the row moves the clock on by a second, which refills
// rateLimit tokens, and the offender's good command is accepted.
func floodRows() []row {
	const n = rateBurst + 100
	return []row{
		{name: "v1 a flood of commands beyond the rate limit", run: func(t *testing.T, e *env) (*client, uint64) {
			before := e.counters(t)
			off := e.dial(t, true)
			_, snap := off.handshake()
			frames := make([][]byte, n)
			for i := range frames {
				c := newTask(e.svc, fmt.Sprintf("flood %d", i))
				frames[i] = wire.AppendCommand(nil, true, uint32(i+1), &c)
			}
			sent := flood(off, frames)
			answered := map[uint32]world.Code{}
			events := 0
			for len(answered) < n {
				f := off.next()
				var req uint32
				var code world.Code
				switch {
				case wire.IsEvent(f.Type):
					events++
					continue
				case f.Type == wire.TypeAck:
					req = f.Ack.Request
				case f.Type == wire.TypeError:
					req, code = f.Error.Request, f.Error.Code
				default:
					t.Fatalf("got frame 0x%02x during the flood", f.Type)
				}
				if _, twice := answered[req]; twice || req == 0 || req > n {
					t.Fatalf("request %d answered twice, or never sent", req)
				}
				answered[req] = code
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			for req := uint32(1); req <= n; req++ {
				want := world.CodeNone
				if req > rateBurst {
					want = world.CodeRateLimited
				}
				if answered[req] != want {
					t.Fatalf("request %d answered %s, want %s", req, answered[req], want)
				}
			}
			rev := snap.Revision + rateBurst
			if events != rateBurst || e.h.eng.Revision() != rev {
				t.Fatalf("%d events, world at %d: want %d events, world at %d", events, e.h.eng.Revision(), rateBurst, rev)
			}
			if got := e.counters(t).minus(before); got != (counters{rateLimited: n - rateBurst}) {
				t.Fatalf("counted %+v", got)
			}
			e.clock.advance(time.Second)
			return off, rev
		}},
		{name: "v0 a flood of commands beyond the rate limit", run: func(t *testing.T, e *env) (*client, uint64) {
			before := e.counters(t)
			off := e.dial(t, false)
			_, snap := off.handshake()
			frames := make([][]byte, n)
			for i := range frames {
				c := newTask(e.svc, fmt.Sprintf("flood %d", i))
				frames[i] = wire.AppendCommand(nil, false, 0, &c)
			}
			sent := flood(off, frames)
			for i := range rateBurst {
				f := off.next()
				if f.Type != wire.TypeTaskCreated || f.Event.Revision != snap.Revision+uint64(i)+1 || f.Event.Task.Title != fmt.Sprintf("flood %d", i) {
					t.Fatalf("event %d: 0x%02x %+v", i, f.Type, f.Event)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			// The original protocol has no answer: wait until the server
			// has counted the rest, before the clock moves.
			eventually(t, "the refusals are counted", func() bool {
				return e.counters(t).minus(before).rateLimited == n-rateBurst
			})
			rev := snap.Revision + rateBurst
			if e.h.eng.Revision() != rev {
				t.Fatalf("world at %d, want %d", e.h.eng.Revision(), rev)
			}
			e.clock.advance(time.Second)
			return off, rev
		}},
		{name: "v1 a flood of Pings beyond their rate limit", run: func(t *testing.T, e *env) (*client, uint64) {
			const pings = pingBurst + 10 // each refused one holds the reader for a tenth of a second
			dropped := droppedControl(e)
			off := e.dial(t, true)
			_, snap := off.handshake()
			frames := make([][]byte, pings)
			for i := range frames {
				frames[i] = wire.AppendPing(nil, &wire.Ping{Nonce: uint32(i + 1)})
			}
			c := newTask(e.svc, "after the pings")
			frames = append(frames, wire.AppendCommand(nil, true, 0x5EED0001, &c))
			sent := flood(off, frames)
			// The clock stands still: pingBurst Pings find a token and get
			// a Pong (unless the control queue is full: then it is dropped,
			// and counted); every other is answered RATE_LIMITED. The
			// command after them is answered: once it is, the server has
			// read every Ping.
			pongs, limited, last, acked, want := 0, 0, uint32(0), false, 0
			for !acked || pongs < want {
				f := off.next()
				switch {
				case f.Type == wire.TypePong && f.Pong.Nonce > last && f.Pong.Nonce <= pingBurst:
					pongs, last = pongs+1, f.Pong.Nonce
				case f.Type == wire.TypeError && f.Error.Request == 0 && f.Error.Code == world.CodeRateLimited:
					limited++
				case f.Type == wire.TypeTaskCreated && !acked && f.Event.Task.Title == "after the pings":
				case f.Type == wire.TypeAck && f.Ack.Request == 0x5EED0001 && !acked:
					acked = true
					want = pingBurst - int(droppedControl(e)-dropped)
				default:
					t.Fatalf("got frame 0x%02x %+v after %d Pongs", f.Type, f, pongs)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if limited != pings-pingBurst {
				t.Fatalf("%d Pings answered RATE_LIMITED, want %d", limited, pings-pingBurst)
			}
			return off, snap.Revision + 1
		}},
	}
}

// droppedControl is how many control frames (Pongs here: telemetry is
// off) the server has dropped because a connection's queue was full.
func droppedControl(e *env) uint64 { return e.h.srv.Dropped()["control_queue_full"] }

var uuidRe = regexp.MustCompile(`(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}`)

// flood writes frames as fast as the socket takes them, from a goroutine
// of its own (so that the test reads the answers meanwhile); it reports
// the first write error, or nil, on the channel.
func flood(c *client, frames [][]byte) chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		for _, f := range frames {
			if err := c.ws.Write(ctx, websocket.MessageBinary, f); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// sessionRows try to open a game connection without a valid session: the
// upgrade is refused, so no command can be sent at all.
func sessionRows() []row {
	cases := []struct {
		name   string
		header func(e *env, t *testing.T) http.Header
	}{
		{"no credentials", func(*env, *testing.T) http.Header { return http.Header{} }},
		{"a bearer token that is no session", func(*env, *testing.T) http.Header {
			return http.Header{"Authorization": {"Bearer not-a-session"}}
		}},
		{"the token of a session that was logged out", func(e *env, t *testing.T) http.Header {
			res, body := rest(t, e.h, "POST", "/api/auth/login", "", `{"username":"bob","password":"bob-pw"}`)
			var out struct{ Token string }
			if err := json.Unmarshal(body, &out); err != nil || res.StatusCode != 200 {
				t.Fatalf("login: %d %s", res.StatusCode, body)
			}
			if res, body := rest(t, e.h, "POST", "/api/auth/logout", out.Token, ""); res.StatusCode != http.StatusNoContent {
				t.Fatalf("logout: %d %s", res.StatusCode, body)
			}
			return http.Header{"Authorization": {"Bearer " + out.Token}}
		}},
		{"a valid session cookie without Origin", func(e *env, _ *testing.T) http.Header {
			return http.Header{"Cookie": {"txxt_session=" + e.h.admin}}
		}},
	}
	var rows []row
	for _, v1 := range []bool{false, true} {
		for _, tc := range cases {
			rows = append(rows, row{name: protoName(v1) + " upgrade with " + tc.name, run: func(t *testing.T, e *env) (*client, uint64) {
				rev := e.h.eng.Revision()
				ws, res, err := e.h.dialRaw(v1, "", tc.header(e, t))
				if err == nil {
					ws.CloseNow()
					t.Fatal("the upgrade succeeded")
				}
				if res == nil {
					t.Fatalf("no HTTP answer: %v", err)
				}
				body, _ := io.ReadAll(res.Body)
				apiError(t, res, body, http.StatusUnauthorized, world.CodeUnauthorized)
				return nil, rev
			}})
		}
	}
	return rows
}

// restRows send bad bodies to every endpoint that takes one. After each,
// the same endpoint still answers a good request.
func restRows() []row {
	type endpoint struct {
		name, method, path string
		token              func(e *env) string
		good               string
		wrongTypes         []string
		unknownField       string
		huge               string // a valid body, over the limit
	}
	huge := func(prefix, suffix string) string { return prefix + strings.Repeat("a", maxBody) + suffix }
	endpoints := []endpoint{
		{name: "login", method: "POST", path: "/api/auth/login", token: func(*env) string { return "" },
			good:         `{"username":"bob","password":"bob-pw"}`,
			wrongTypes:   []string{`{"username":5,"password":"bob-pw"}`, `{"username":"bob","password":["bob-pw"]}`},
			unknownField: `{"username":"bob","password":"bob-pw","admin":true}`,
			huge:         huge(`{"username":"`, `","password":"bob-pw"}`)},
		{name: "settings PUT", method: "PUT", path: "/api/settings", token: func(e *env) string { return e.h.admin },
			good: `{"grid":5}`, // what the row changes: the schedule stays as the earlier rows left it
			wrongTypes: []string{`{"grid":"15"}`, `{"grid":-5}`, `{"grid":65536}`, `{"grid":1.5}`, `{"workday_start":"8:00"}`,
				`{"grid":15,"time_zone":5}`}, // a valid grid first: nothing is applied
			unknownField: `{"grid":5,"colour":"red"}`,
			huge:         huge(`{"time_zone":"`, `"}`)},
		{name: "profiles PUT", method: "PUT", path: "/api/profiles/bad-input", token: func(e *env) string { return e.h.member },
			good:         `{"view":"month","collapsed":true}`,
			wrongTypes:   []string{`{"view":3}`, `{"services":"all"}`, `{"services":["not-a-uuid"]}`, `{"collapsed":"yes"}`},
			unknownField: `{"view":"week","colour":"red"}`,
			huge:         huge(`{"view":"week","date":"`, `"}`)},
	}
	type bad struct {
		what, body string
		status     int
		code       world.Code
		closes     bool // the server closes the HTTP connection after answering
	}
	var rows []row
	for _, ep := range endpoints {
		cases := []bad{
			{"malformed JSON", `{"view":`, 400, world.CodeBadRequest, false},
			{"not JSON", `view=week`, 400, world.CodeBadRequest, false},
			{"an empty body", ``, 400, world.CodeBadRequest, false},
			{"two JSON values", `{} {}`, 400, world.CodeBadRequest, false},
			{"JSON that is not an object", `[]`, 400, world.CodeBadRequest, false},
			{"an unknown field", ep.unknownField, 400, world.CodeBadRequest, false},
			{"a body over the limit", ep.huge, 413, world.CodeFrameTooLarge, true},
		}
		for i, w := range ep.wrongTypes {
			cases = append(cases, bad{fmt.Sprintf("a wrong type %d", i+1), w, 400, world.CodeBadRequest, false})
		}
		for _, c := range cases {
			rows = append(rows, row{name: "REST " + ep.name + " " + c.what, run: func(t *testing.T, e *env) (*client, uint64) {
				rev := e.h.eng.Revision()
				res, body := rest(t, e.h, ep.method, ep.path, ep.token(e), c.body)
				apiError(t, res, body, c.status, c.code)
				if res.Close != c.closes {
					t.Fatalf("Connection: close is %v, want %v", res.Close, c.closes)
				}
				if res, body := rest(t, e.h, ep.method, ep.path, ep.token(e), ep.good); res.StatusCode != 200 {
					t.Fatalf("a good request after it: %d %s", res.StatusCode, body)
				}
				return nil, rev
			}})
		}
	}
	// Who asks is checked before the body is read.
	auth := []struct {
		what, method, path string
		token              func(e *env) string
		status             int
		code               world.Code
	}{
		{"settings PUT without a session", "PUT", "/api/settings", func(*env) string { return "" }, 401, world.CodeUnauthorized},
		{"settings PUT by a member", "PUT", "/api/settings", func(e *env) string { return e.h.member }, 403, world.CodeForbidden},
		{"profiles PUT without a session", "PUT", "/api/profiles/bad-input", func(*env) string { return "" }, 401, world.CodeUnauthorized},
	}
	for _, a := range auth {
		rows = append(rows, row{name: "REST " + a.what + " and malformed JSON", run: func(t *testing.T, e *env) (*client, uint64) {
			rev := e.h.eng.Revision()
			res, body := rest(t, e.h, a.method, a.path, a.token(e), `{"grid":`)
			apiError(t, res, body, a.status, a.code)
			if res.Close {
				t.Fatal("the server closed the HTTP connection")
			}
			return nil, rev
		}})
	}
	return rows
}
