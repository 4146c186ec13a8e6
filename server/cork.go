package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
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
type smallBuffers struct {
	http.ResponseWriter
	readRate, readBurst float64       // bytes a second the reader takes (see slowReader)
	pieceTimeout        time.Duration // each piece of a write must go within this (see corkedConn)
	out                 *corkedConn   // set by Hijack
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
	in := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), slow), max(connBuffer, len(early)))
	if len(early) > 0 {
		in.Peek(len(early)) // fills from the early bytes alone: nc is not read
	}
	w.out = &corkedConn{Conn: nc, timeout: w.pieceTimeout}
	return slow, bufio.NewReadWriter(in, bufio.NewWriterSize(w.out, connBuffer)), nil
}

// corkedConn is the socket under the WebSocket library's writes. While the
// connection's writer has it corked, what the library writes (each frame,
// flushed on its own) is gathered; uncork sends it all in one write. So a
// run of events, or of answers, costs the connection one syscall, not one
// per frame. Writes from other goroutines (pings, pongs) while it is not
// corked go straight through. The mutex keeps every byte in the order the
// library wrote it.
//
// What a connection holds in flight is bounded: the gathered bytes never
// pass corkLimit (past it they are sent first), and a big write (a
// snapshot, which every connection that needs it shares: it is never
// copied here) goes out in pieces of writePiece, each with its own
// deadline, timeout. A client that takes no piece within it is stalled:
// the write fails and the connection is closed (4003). One that is slow
// but moving gets a snapshot bigger than it can take within one deadline.
type corkedConn struct {
	net.Conn
	timeout time.Duration
	mu      sync.Mutex
	corked  bool
	buf     []byte
}

const (
	corkLimit  = 64 << 10
	writePiece = 64 << 10
)

func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked && len(c.buf)+len(p) <= corkLimit {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if err := c.writeBuf(); err != nil {
		return 0, err
	}
	if c.corked && len(p) <= corkLimit {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.writePieces(p)
}

// writePieces writes p in pieces, each within the timeout. c.mu is held.
func (c *corkedConn) writePieces(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), writePiece)
		if c.timeout > 0 {
			c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
		}
		m, err := c.Conn.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	if c.timeout > 0 {
		c.Conn.SetWriteDeadline(time.Time{})
	}
	return written, nil
}

// writeBuf sends what was gathered. c.mu is held.
func (c *corkedConn) writeBuf() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.writePieces(c.buf)
	clear(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > corkLimit {
		c.buf = nil // cannot happen: the buffer is bounded
	}
	return err
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
