package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"txxt/engine"
	"txxt/world"
)

// Commands reach a world's owner from the nodes that follow it by NATS
// request/reply on CommandSubject(world), which only the owner serves
// (Serve). Each request is a batch of a follower's commands, each with
// its actor and origin; the reply holds their answers in the same order.
// No stream captures the subject (the streams' are worlds.<k>.*): a
// command is not a record, only its event is.
//
//	request   version u8 (1) · count u16 · count × command
//	command   actor 16 · client 16 · request u32 · kind u8 · task 16 ·
//	          source 16 · service 16 · assignee 16 · user 16 · slot date
//	          u16 · start u16 · duration u16 · priority u8 · grid u16 ·
//	          archived u8 · color u32 · workday start u16 · end u16 ·
//	          first day u8 · holiday date u16 · time off id 16 · user 16 ·
//	          from u16 · to u16 · then text, time zone, holiday name, time
//	          off note, each length u32 · bytes
//	reply     version u8 (1) · status u8 · status 0: count u16 · count ×
//	          answer; status 1: the request was not understood, message
//	          length u16 · message
//	answer    revision u64 · code u16 · duplicate u8 · message length u16 · message
//
// All little-endian. The command is every field of world.Command, not a
// client frame: the server's own commands (CreateUser) have none, and a
// test fills every field by reflection so that a field added to
// world.Command and not here fails it.
const forwardVersion = 1

// CommandSubject is where world's owner takes forwarded commands.
func CommandSubject(world string) string { return "world." + world + ".cmd" }

// Owner serves one world's command subject for the engine that owns the
// world.
type Owner struct {
	world string
	sub   *nats.Subscription
	eng   *engine.Engine
}

// Serve takes the commands followers forward to world on nc and submits
// each to e, the world's owner (opened by engine.Open, not Follow), with
// its actor and origin kept, so that a retry is answered from e's retry
// table; it replies with each command's answer once all of the batch's
// are in. Close stops it.
//
// The subscription is a plain one, not a queue group: while two nodes
// serve a world (the new owner, and a deposed one that has not learnt it
// yet, or one cut off from NATS whose subscription the server keeps until
// it finds the connection dead, minutes later by default), every request
// reaches both, and the follower takes the new owner's answer over the
// deposed one's quicker NOT_OWNER when it comes within refusalGrace
// (Forwarder.request); otherwise the refusal sends it again, to be
// answered from the new owner's retry table. In a queue group each request went to one of them: those
// that went to a cut-off owner were never answered, and, at random, a
// follower's command was given up NO_OWNER after the forwarder's bound
// (TestClusterPartitionedOwner, in cmd/txxt).
func Serve(nc *nats.Conn, world string, e *engine.Engine) (*Owner, error) {
	o := &Owner{world: world, eng: e}
	sub, err := nc.Subscribe(CommandSubject(world), o.handle)
	if err != nil {
		return nil, fmt.Errorf("world %s: serve its commands: %w", world, err)
	}
	o.sub = sub
	return o, nil
}

// Close stops taking requests. Those already taken are answered when
// their commands are (the engine answers every command it queued).
func (o *Owner) Close() error {
	if err := o.sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("world %s: stop serving its commands: %w", o.world, err)
	}
	return nil
}

// The answers an owner gives for what its engine would not queue, in the
// server's words.
const (
	refusedOverloaded = "The server is busy, so nothing was changed: try again in a moment."
	refusedNotOwner   = "This team's calendar is now kept by another server, so nothing was changed: try again in a moment."
	refusedClosed     = "The server that keeps this team's calendar is restarting, so nothing was changed: try again in a moment."
)

// handle runs on the subscription's goroutine: it queues the batch's
// commands, which the engine answers on its own goroutine; the last
// answer sends the reply.
func (o *Owner) handle(m *nats.Msg) {
	reqs, err := decodeRequest(m.Data)
	if err != nil {
		m.Respond(encodeRefusedRequest(err))
		return
	}
	if len(reqs) == 0 {
		m.Respond(encodeReply(nil))
		return
	}
	results := make([]engine.Result, len(reqs))
	var left atomic.Int64
	left.Store(int64(len(reqs)))
	answered := func() {
		if left.Add(-1) == 0 {
			// The engine's goroutine must not wait on the connection.
			go m.Respond(encodeReply(results))
		}
	}
	for i := range reqs {
		r := reqs[i]
		r.Done = func(res engine.Result) {
			results[i] = res
			answered()
		}
		if err := o.eng.Submit(r); err != nil {
			results[i] = engine.Result{Err: submitRefusal(err)}
			answered()
		}
	}
}

func submitRefusal(err error) *world.Error {
	switch {
	case errors.Is(err, engine.ErrOverloaded):
		return &world.Error{Code: world.CodeOverloaded, Message: refusedOverloaded}
	case errors.Is(err, engine.ErrNotOwner):
		return &world.Error{Code: world.CodeNotOwner, Message: refusedNotOwner}
	}
	return &world.Error{Code: world.CodeShuttingDown, Message: refusedClosed}
}

// ForwardOptions tune a Forwarder. The zero value is usable.
type ForwardOptions struct {
	// Attempt is how long one request waits for its reply (default 2s):
	// past it the request is sent again, same ids.
	Attempt time.Duration
	// Bound is how long a batch is tried before the commands not
	// answered are given up (default 10s: about a failover, a lease's
	// TTL and a replay, with room).
	Bound time.Duration
	// Backoff is the wait before the first retry (default 5ms), doubled
	// at each retry up to MaxBackoff (default 250ms), each wait drawn
	// between half of it and all of it.
	Backoff, MaxBackoff time.Duration
}

func (o *ForwardOptions) fill() {
	if o.Attempt <= 0 {
		o.Attempt = 2 * time.Second
	}
	if o.Bound <= 0 {
		o.Bound = 10 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 5 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 250 * time.Millisecond
	}
}

// maxForward bounds the commands of one request, so that its reply (an
// answer and its message each) stays well inside a NATS payload.
const maxForward = 256

// Forwarder is a follower's engine.Forwarder for one world: it sends the
// follower's batches to the world's owner over NATS request/reply. A
// request that finds no owner (no responders: nobody serves the world,
// as during a failover), times out (a lost request or reply, an owner
// that died), or is answered NOT_OWNER or SHUTTING_DOWN (an owner
// stepping down or stopping) is sent again with backoff, same client and
// request ids, until the owner answers or Bound passes: so a command the
// old owner committed is answered from the new one's retry table (which
// its boot refills from the log), never applied twice.
type Forwarder struct {
	nc      *nats.Conn
	world   string
	subject string
	opts    ForwardOptions
	retries atomic.Uint64
}

// NewForwarder returns the Forwarder of world's commands on nc.
func NewForwarder(nc *nats.Conn, world string, opts ForwardOptions) *Forwarder {
	opts.fill()
	return &Forwarder{nc: nc, world: world, subject: CommandSubject(world), opts: opts}
}

// Retries is how many requests were sent again, since the start.
func (f *Forwarder) Retries() uint64 { return f.retries.Load() }

// Forward implements engine.Forwarder.
func (f *Forwarder) Forward(ctx context.Context, batch []engine.Request) ([]engine.Result, error) {
	results := make([]engine.Result, 0, len(batch))
	deadline := time.Now().Add(f.opts.Bound)
	backoff := f.opts.Backoff
	// Requests of at most maxForward commands and half a payload.
	limit := int(f.nc.MaxPayload() / 2)
	for len(results) < len(batch) {
		data, n := encodeRequest(batch[len(results):], maxForward, limit)
		if n == 0 {
			// One command bigger than a request may be (a client frame
			// is far smaller): it cannot be sent.
			results = append(results, engine.Result{Err: &world.Error{Code: world.CodeFrameTooLarge, Message: "This change is too large to be sent to the server that keeps this team's calendar, so nothing was changed."}})
			continue
		}
		answers, err := f.request(ctx, data, n, deadline)
		if err == nil {
			done := 0
			for done < n && !stepping(answers[done]) {
				done++
			}
			results = append(results, answers[:done]...)
			if done == n {
				backoff = f.opts.Backoff
				continue
			}
			err = fmt.Errorf("the owner answered %s: %s", answers[done].Err.Code, answers[done].Err.Message)
		}
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, errBadReply) {
			return results, fmt.Errorf("world %s: forward %d commands: %w", f.world, len(batch)-len(results), err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if time.Until(deadline) < wait {
			return results, fmt.Errorf("world %s: no owner answered %d commands within %s: %w", f.world, len(batch)-len(results), f.opts.Bound, err)
		}
		f.retries.Add(1)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return results, ctx.Err()
		}
		backoff = min(2*backoff, f.opts.MaxBackoff)
	}
	return results, nil
}

// stepping reports an answer from an owner that is stepping down or
// stopping: nothing of it was applied there, and the next owner will
// answer it.
func stepping(r engine.Result) bool {
	return r.Err != nil && (r.Err.Code == world.CodeNotOwner || r.Err.Code == world.CodeShuttingDown)
}

var errBadReply = errors.New("a reply that does not decode")

// refusalGrace is how long a request waits, after a reply that refuses
// its commands as a stepping-down owner's, for another node's reply: the
// new owner, if it serves the world yet, answers within its commit.
const refusalGrace = 250 * time.Millisecond

// request sends one request and returns its n answers. Every node that
// serves the world gets it (Serve), so more than one reply may come: the
// first that refuses none of its commands as a stepping-down owner's
// (NOT_OWNER, SHUTTING_DOWN) is taken; such a refusal is taken when no
// other reply came within refusalGrace after it.
func (f *Forwarder) request(ctx context.Context, data []byte, n int, deadline time.Time) ([]engine.Result, error) {
	if end := time.Now().Add(f.opts.Attempt); end.Before(deadline) {
		deadline = end
	}
	actx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	inbox := f.nc.NewInbox()
	sub, err := f.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := f.nc.PublishRequest(f.subject, inbox, data); err != nil {
		return nil, err
	}
	var refused []engine.Result
	wait := actx
	for {
		m, err := sub.NextMsgWithContext(wait)
		switch {
		case err != nil && refused != nil:
			return refused, nil
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return nil, nats.ErrTimeout
		case err != nil:
			return nil, err
		case len(m.Data) == 0 && m.Header.Get("Status") == "503":
			if refused != nil {
				continue
			}
			return nil, nats.ErrNoResponders
		}
		answers, err := decodeReply(m.Data)
		if err == nil && len(answers) != n {
			err = fmt.Errorf("%d answers to %d commands", len(answers), n)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadReply, err)
		}
		if !slices.ContainsFunc(answers, stepping) {
			return answers, nil
		}
		if refused == nil {
			refused = answers
			gctx, gcancel := context.WithTimeout(actx, refusalGrace)
			defer gcancel()
			wait = gctx
		}
	}
}

// The codec. Each Append writes one value; the reader returns zero values
// once it has run out and remembers that it did.

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || len(r.b) < n {
		r.bad = true
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8   { return r.take(1)[0] }
func (r *reader) u16() uint16 { return binary.LittleEndian.Uint16(r.take(2)) }
func (r *reader) u32() uint32 { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.LittleEndian.Uint64(r.take(8)) }
func (r *reader) id() (id world.ID) {
	copy(id[:], r.take(16))
	return id
}

func (r *reader) text() string {
	n := r.u32()
	if r.bad || uint64(n) > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	return string(r.take(int(n)))
}

func appendText(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendCommand(b []byte, r *engine.Request) []byte {
	c := &r.Command
	b = append(b, r.Actor[:]...)
	b = append(b, r.Origin.Client[:]...)
	b = binary.LittleEndian.AppendUint32(b, r.Origin.Request)
	b = append(b, byte(c.Kind))
	for _, id := range []*world.ID{&c.Task, &c.Source, &c.Service, &c.Assignee, &c.User} {
		b = append(b, id[:]...)
	}
	for _, v := range []uint16{c.Slot.Date, c.Slot.Start, c.Slot.Duration} {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	b = append(b, byte(c.Priority))
	b = binary.LittleEndian.AppendUint16(b, c.Grid)
	archived := byte(0)
	if c.Archived {
		archived = 1
	}
	b = append(b, archived)
	b = binary.LittleEndian.AppendUint32(b, c.Color)
	b = binary.LittleEndian.AppendUint16(b, c.Schedule.WorkdayStart)
	b = binary.LittleEndian.AppendUint16(b, c.Schedule.WorkdayEnd)
	b = append(b, c.Schedule.FirstDay, c.Schedule.WorkingDays)
	b = binary.LittleEndian.AppendUint16(b, c.Holiday.Date)
	b = append(b, c.TimeOff.ID[:]...)
	b = append(b, c.TimeOff.User[:]...)
	b = binary.LittleEndian.AppendUint16(b, c.TimeOff.From)
	b = binary.LittleEndian.AppendUint16(b, c.TimeOff.To)
	for _, s := range []string{c.Text, c.Schedule.TimeZone, c.Holiday.Name, c.TimeOff.Note} {
		b = appendText(b, s)
	}
	return b
}

func (r *reader) command() engine.Request {
	var q engine.Request
	q.Actor = r.id()
	q.Origin.Client = r.id()
	q.Origin.Request = r.u32()
	c := &q.Command
	c.Kind = world.CommandKind(r.u8())
	for _, id := range []*world.ID{&c.Task, &c.Source, &c.Service, &c.Assignee, &c.User} {
		*id = r.id()
	}
	c.Slot = world.Slot{Date: r.u16(), Start: r.u16(), Duration: r.u16()}
	c.Priority = world.Priority(r.u8())
	c.Grid = r.u16()
	switch r.u8() {
	case 0:
	case 1:
		c.Archived = true
	default:
		r.bad = true
	}
	c.Color = r.u32()
	c.Schedule.WorkdayStart, c.Schedule.WorkdayEnd, c.Schedule.FirstDay, c.Schedule.WorkingDays = r.u16(), r.u16(), r.u8(), r.u8()
	c.Holiday.Date = r.u16()
	c.TimeOff.ID, c.TimeOff.User = r.id(), r.id()
	c.TimeOff.From, c.TimeOff.To = r.u16(), r.u16()
	c.Text, c.Schedule.TimeZone, c.Holiday.Name, c.TimeOff.Note = r.text(), r.text(), r.text(), r.text()
	return q
}

// encodeRequest encodes the first of batch's commands that fit in at
// most max commands and limit bytes (at least one unless that one alone
// is over limit: then it returns 0).
func encodeRequest(batch []engine.Request, max, limit int) ([]byte, int) {
	b := []byte{forwardVersion, 0, 0}
	n := 0
	for n < len(batch) && n < max {
		mark := len(b)
		b = appendCommand(b, &batch[n])
		if len(b) > limit {
			b = b[:mark]
			break
		}
		n++
	}
	binary.LittleEndian.PutUint16(b[1:], uint16(n))
	return b, n
}

func decodeRequest(data []byte) ([]engine.Request, error) {
	r := &reader{b: data}
	if v := r.u8(); v != forwardVersion {
		return nil, fmt.Errorf("request version %d, want %d", v, forwardVersion)
	}
	n := int(r.u16())
	reqs := make([]engine.Request, 0, min(n, maxForward))
	for range n {
		if q := r.command(); !r.bad {
			reqs = append(reqs, q)
		}
	}
	if r.bad || len(r.b) != 0 {
		return nil, errors.New("a request cut short or too long")
	}
	return reqs, nil
}

// maxMessage bounds an answer's message in a reply (the world's are a
// sentence or two).
const maxMessage = 1 << 10

// cut returns msg, or its first maxMessage bytes, not parting a character.
func cut(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	n := maxMessage
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n--
	}
	return msg[:n]
}

func encodeReply(results []engine.Result) []byte {
	b := []byte{forwardVersion, 0}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(results)))
	for _, res := range results {
		b = binary.LittleEndian.AppendUint64(b, res.Revision)
		code, msg := world.CodeNone, ""
		if res.Err != nil {
			code, msg = res.Err.Code, cut(res.Err.Message)
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(code))
		dup := byte(0)
		if res.Duplicate {
			dup = 1
		}
		b = append(b, dup)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(msg)))
		b = append(b, msg...)
	}
	return b
}

func encodeRefusedRequest(err error) []byte {
	msg := cut(err.Error())
	b := []byte{forwardVersion, 1}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

func decodeReply(data []byte) ([]engine.Result, error) {
	r := &reader{b: data}
	if v := r.u8(); v != forwardVersion {
		return nil, fmt.Errorf("reply version %d, want %d", v, forwardVersion)
	}
	switch r.u8() {
	case 0:
	case 1:
		msg := string(r.take(int(r.u16())))
		return nil, fmt.Errorf("the owner did not understand the request: %s", msg)
	default:
		return nil, errors.New("a reply of an unknown status")
	}
	n := int(r.u16())
	out := make([]engine.Result, 0, min(n, maxForward))
	for range n {
		res := engine.Result{Revision: r.u64()}
		code := world.Code(r.u16())
		res.Duplicate = r.u8() == 1
		msg := string(r.take(int(r.u16())))
		if code != world.CodeNone {
			res.Err = &world.Error{Code: code, Message: msg}
		}
		out = append(out, res)
	}
	if r.bad || len(r.b) != 0 {
		return nil, errors.New("a reply cut short or too long")
	}
	return out, nil
}
