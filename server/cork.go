package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"sync"
	"time"
)

// connBuffer is the size of a game connection's read and write buffers.
// Client frames are small, and bufio passes a bigger read or write (a
// snapshot) straight through, so 1 KiB each is enough; net/http's 4 KiB
// each would be most of an idle connection's memory.
const connBuffer = 1 << 10

// smallBuffers hands the WebSocket library, which keeps the hijacked
// connection's buffers for the life of the connection, smaller ones, and
// puts a corkedConn under its writes.
//
// With holdUpgrade, the upgrade's answer (101 Switching Protocols) is not
// written by net/http when the library asks for it: it is the first
// bytes of the corkedConn, which starts corked, so that it goes out in
// one write with the connection's first frames (Welcome, the Snapshot,
// the presence list) when the writer first uncorks. A client then gets
// its whole start in one segment, and the server makes one write where it
// made two or three. Whoever holds the connection must uncork it (or
// close it) for the client to see the answer at all.
type smallBuffers struct {
	http.ResponseWriter
	readRate, readBurst float64       // bytes a second the reader takes (see slowReader)
	pieceTimeout        time.Duration // each piece of a write must go within this (see corkedConn)
	holdUpgrade         bool          // the 101 waits in the cork for the first frames
	upgrade             bool          // WriteHeader(101) was held back
	out                 *corkedConn   // set by Hijack
}

// WriteHeader holds back a 101 when holdUpgrade is set: Hijack writes it
// into the cork. Any other status goes to net/http as it is.
func (w *smallBuffers) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols && w.holdUpgrade {
		w.upgrade = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Flush(); err != nil {
		nc.Close()
		return nil, nil, err
	}
	// Bytes the client sent after its request (its first frames, when it
	// writes at once) are in the old reader. They must be in the new
	// reader's buffer, not behind it: the library takes what is buffered
	// and reads the rest from nc itself.
	early, _ := brw.Reader.Peek(brw.Reader.Buffered())
	// The library reads the socket itself past what is buffered: the
	// read rate's bound is on the conn it gets.
	slow := slowConn{Conn: nc, r: newSlowReader(nc, w.readRate, w.readBurst)}
	var src io.Reader = slow
	if len(early) > 0 {
		src = io.MultiReader(bytes.NewReader(bytes.Clone(early)), slow)
	}
	in := bufio.NewReaderSize(src, max(connBuffer, len(early)))
	if len(early) > 0 {
		in.Peek(len(early)) // fills from the early bytes alone: nc is not read
	}
	w.out = newCorkedConn(nc, w.pieceTimeout)
	if w.upgrade {
		w.out.corked = true
		w.out.buf = appendUpgrade(w.out.room(upgradeSize), w.Header(), time.Now())
	}
	return slow, bufio.NewReadWriter(in, bufio.NewWriterSize(w.out, connBuffer)), nil
}

// upgradeSize is about the size of the 101 answer (the room borrowed for it).
const upgradeSize = 256

// appendUpgrade appends the answer net/http would have written for
// WriteHeader(101) with header h: the status line, h's fields sorted by
// name (each value trimmed and its line breaks made spaces, as
// http.Header.Write does),
// then Date.
func appendUpgrade(b []byte, h http.Header, now time.Time) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\n"...)
	keys := make([]string, 0, 8)
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			b = append(append(b, k...), ": "...)
			v = textproto.TrimString(v)
			for i := range len(v) {
				if c := v[i]; c == '\r' || c == '\n' {
					b = append(b, ' ')
				} else {
					b = append(b, c)
				}
			}
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "Date: "...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	return append(b, "\r\n\r\n"...)
}

// corkedConn is the socket under every write of a game connection: the
// writer's own frames (writeMessage: a WebSocket header and the frame's
// bytes, which are the engine's shared frame for an event) and the
// library's (control frames: pings, pongs, close). While the connection's
// writer has it corked, what is written is gathered; uncork sends it all
// in one write. So a run of events, or of answers, costs the connection
// one syscall, not one per frame, and a frame costs the writer a header
// and a copy: no context, no timer and no lock of the library's. Writes
// from other goroutines (the library's pings, pongs and close) while it is
// not corked go straight through. The mutex keeps every byte in the order
// it was written.
//
// Framing is shared with the library, so the frames must never
// interleave: the library writes each of its frames whole under its own
// frame lock (through its buffered writer, whose flush at the frame's end
// is where its bytes reach Write), and corkedConn follows the library's
// frames through the bytes it is given (track), so that writeMessage puts
// a frame in only between two of the library's, and none at all once the
// library has sent a close frame (the close handshake has begun).
//
// What a connection holds in flight is bounded: the gathered bytes never
// pass corkLimit (past it they are sent first; a connection borrows its
// buffer for a burst and keeps none between bursts), and a big frame (from straightFrame:
// a snapshot or a presence list, which every connection that needs it
// shares: it is never copied here) goes out in pieces of writePiece
// straight from its bytes. While corked, a big frame waits by reference
// among the gathered bytes (at most maxBig of them), and uncork sends the
// whole run in one writev: the upgrade's answer, Welcome, a Snapshot and
// a full presence list of a new connection go out in one write.
// Every piece must go within timeout: the socket's write deadline is set
// coarsely (when less than 7/8 of timeout is left of it, to now +
// timeout), not per write, so a piece has between 7/8 and all of the
// timeout. A client that takes no piece within it is stalled: the write
// fails and the connection is closed (4003). One that is slow but moving
// gets a snapshot bigger than it can take within one deadline.
type corkedConn struct {
	net.Conn
	timeout time.Duration
	mu      sync.Mutex
	atFrame sync.Cond // L is mu; broadcast when the library's frame in progress has been written whole
	corked  bool
	buf     []byte
	big     []bigFrame // while corked: frames from straightFrame, waiting by reference among buf's bytes

	deadline time.Time // the socket's write deadline (zero: none set yet)
	err      error     // the first write that failed: the stream is broken from there on

	// The library's frame being written, followed through its bytes.
	libHeader  [maxHeader]byte
	libHeaderN int   // bytes of the header seen so far
	libLeft    int64 // bytes of its payload still to come
	closeSent  bool  // the library has written a close frame
}

const (
	corkLimit  = 64 << 10
	writePiece = 64 << 10
	// straightFrame is the size from which a frame goes to the socket
	// from its own bytes rather than through the buffer.
	straightFrame = 8 << 10
	// keepBuffer is the size of the buffer a burst of a few frames borrows.
	keepBuffer = 2 << 10
	maxHeader  = 14 // a WebSocket frame header: 2 bytes, 8 of extended length, 4 of mask
	// maxBig is how many big frames a cork holds by reference before it
	// writes what it has.
	maxBig = 4
)

// bigFrame is a frame of straightFrame bytes or more waiting in the cork:
// it goes out after buf[:at] (which ends with its header).
type bigFrame struct {
	at    int
	frame []byte
}

func newCorkedConn(nc net.Conn, timeout time.Duration) *corkedConn {
	c := &corkedConn{Conn: nc, timeout: timeout}
	c.atFrame.L = &c.mu
	return c
}

// Write takes the library's bytes.
func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.track(p)
	if c.err != nil {
		return 0, c.err
	}
	if c.corked && len(c.buf)+len(p) <= corkLimit {
		c.buf = append(c.room(len(p)), p...)
		return len(p), nil
	}
	if err := c.writeBuf(); err != nil {
		return 0, err
	}
	if c.corked && len(p) <= corkLimit {
		c.buf = append(c.room(len(p)), p...)
		return len(p), nil
	}
	return c.writePieces(p)
}

// track follows the library's frames through p: their headers (from which
// it learns each payload's length, and whether it is a close frame) and
// payloads. c.mu is held.
func (c *corkedConn) track(p []byte) {
	for len(p) > 0 {
		if c.libLeft > 0 {
			n := min(int64(len(p)), c.libLeft)
			c.libLeft -= n
			p = p[n:]
			continue
		}
		c.libHeader[c.libHeaderN] = p[0]
		c.libHeaderN++
		p = p[1:]
		h := c.libHeader[:c.libHeaderN]
		if c.libHeaderN < headerLen(h) {
			continue
		}
		if h[0]&0x0F == opClose {
			c.closeSent = true
		}
		c.libLeft = payloadLen(h)
		c.libHeaderN = 0
	}
	if c.libHeaderN == 0 && c.libLeft == 0 {
		c.atFrame.Broadcast()
	}
}

// The WebSocket opcodes and header bits (RFC 6455, section 5.2) the
// connection writes or follows.
const (
	finBinary = 0x80 | 0x2 // FIN, opcode binary
	opClose   = 0x8
	maskBit   = 0x80
)

// headerLen is the length of the frame header that starts with h (2 bytes
// at least; h holds those seen so far).
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] &^ maskBit {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&maskBit != 0 {
		n += 4
	}
	return n
}

// payloadLen is the payload length a whole header h gives.
func payloadLen(h []byte) int64 {
	switch n := h[1] &^ maskBit; n {
	case 126:
		return int64(binary.BigEndian.Uint16(h[2:]))
	case 127:
		return int64(binary.BigEndian.Uint64(h[2:]) &^ (1 << 63))
	default:
		return int64(n)
	}
}

// appendHeader appends the header of an unmasked, final binary frame of
// n bytes, as a server sends it.
func appendHeader(b []byte, n int) []byte {
	switch {
	case n < 126:
		return append(b, finBinary, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, finBinary, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, finBinary, 127), uint64(n))
	}
}

// writeMessage writes frame as one binary WebSocket message: gathered
// when corked (a big one by reference: frame must not change until
// uncork; big frames are the engine's and the hub's shared ones, never
// changed), else sent at once (a big one straight from its bytes, in
// pieces). It waits for a frame of the library's in progress to be
// written whole, and refuses once the library has sent a close frame
// (net.ErrClosed). An error from the socket is returned as it is (a
// deadline's is os.ErrDeadlineExceeded).
func (c *corkedConn) writeMessage(frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && (c.libHeaderN > 0 || c.libLeft > 0) {
		c.atFrame.Wait()
	}
	if c.err != nil {
		return c.err
	}
	if c.closeSent {
		return net.ErrClosed
	}
	n := len(frame) + maxHeader
	if len(frame) >= straightFrame {
		// The frame goes from its own bytes (a snapshot or a presence
		// list, shared by every connection: never copied per
		// connection), after what was gathered and its header, in the
		// same write (writev). Corked, it waits by reference with the
		// gathered bytes.
		c.buf = appendHeader(c.room(maxHeader), len(frame))
		c.big = append(c.big, bigFrame{at: len(c.buf), frame: frame})
		if c.corked && len(c.big) < maxBig {
			return nil
		}
		return c.writeBuf()
	}
	if len(c.buf)+n > corkLimit {
		if err := c.writeBuf(); err != nil {
			return err
		}
	}
	c.buf = append(appendHeader(c.room(n), len(frame)), frame...)
	if c.corked {
		return nil
	}
	return c.writeBuf()
}

// writePieces writes p in pieces, each within the timeout. c.mu is held.
func (c *corkedConn) writePieces(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), writePiece)
		c.extendDeadline()
		m, err := c.Conn.Write(p[:n])
		written += m
		if err != nil {
			c.err = err
			c.atFrame.Broadcast()
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// extendDeadline moves the socket's write deadline to now + timeout when
// less than 7/8 of the timeout is left of it. c.mu is held.
func (c *corkedConn) extendDeadline() {
	if c.timeout <= 0 {
		return
	}
	if now := time.Now(); c.deadline.Sub(now) < c.timeout-c.timeout/8 {
		c.deadline = now.Add(c.timeout)
		c.Conn.SetWriteDeadline(c.deadline)
	}
}

// writeBuf sends what was gathered, with the big frames waiting among
// it, in one write (or one a piece). c.mu is held.
func (c *corkedConn) writeBuf() error {
	if len(c.buf) == 0 {
		return nil // a big frame always waits behind its header
	}
	var err error
	if len(c.big) == 0 {
		_, err = c.writePieces(c.buf)
	} else {
		segs := make(net.Buffers, 0, 2*len(c.big)+1)
		from := 0
		for _, f := range c.big {
			segs = append(segs, c.buf[from:f.at], f.frame)
			from = f.at
		}
		if from < len(c.buf) {
			segs = append(segs, c.buf[from:])
		}
		clear(c.big)
		c.big = nil // an idle connection holds no reference to a shared frame
		err = c.writeVector(segs)
	}
	c.giveBack()
	return err
}

// writeVector writes segs in pieces of at most writePiece bytes, each
// piece in one writev and within the timeout. c.mu is held.
func (c *corkedConn) writeVector(segs net.Buffers) error {
	var piece net.Buffers
	for len(segs) > 0 {
		piece = piece[:0]
		n := 0
		for len(segs) > 0 && n < writePiece {
			s := segs[0]
			if room := writePiece - n; len(s) > room {
				piece = append(piece, s[:room])
				segs[0] = s[room:]
				break
			}
			piece = append(piece, s)
			n += len(s)
			segs = segs[1:]
		}
		c.extendDeadline()
		if _, err := piece.WriteTo(c.Conn); err != nil {
			c.err = err
			c.atFrame.Broadcast()
			return err
		}
	}
	return nil
}

// A connection holds no buffer between bursts: it borrows one when it has
// bytes to gather and gives it back once they are written, so an idle
// connection costs no buffer, and a crowd's bursts (every reader of a busy
// team, every connection of a paced flooder every floodPace) reuse a few
// buffers rather than each growing its own from nothing to drop after the
// write (that was most of the server's allocation under a flood). Two
// sizes: keepBuffer for a burst of a few frames, corkLimit for more.
// sync.Pools: what stays unused is freed by the GC.
var (
	burstBuffers = sync.Pool{New: func() any { b := make([]byte, 0, keepBuffer); return &b }}
	fullBuffers  = sync.Pool{New: func() any { b := make([]byte, 0, corkLimit); return &b }}
)

// room returns c.buf with room for n more bytes, borrowed if need be
// (c.buf never passes corkLimit). c.mu is held.
func (c *corkedConn) room(n int) []byte {
	need := len(c.buf) + n
	if need <= cap(c.buf) {
		return c.buf
	}
	pool := &fullBuffers
	if need <= keepBuffer {
		pool = &burstBuffers
	}
	b := append((*pool.Get().(*[]byte))[:0], c.buf...)
	c.giveBack()
	return b
}

// giveBack returns c.buf to its pool; c.buf is then nil. c.mu is held.
func (c *corkedConn) giveBack() {
	b := c.buf[:0]
	c.buf = nil
	switch {
	case cap(b) >= corkLimit:
		fullBuffers.Put(&b)
	case cap(b) == keepBuffer:
		burstBuffers.Put(&b)
	}
}

func (c *corkedConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was gathered, each piece within the timeout.
func (c *corkedConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.writeBuf()
}
