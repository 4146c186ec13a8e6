package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// corkPair serves one WebSocket connection over a real loopback socket the
// way handleGame does (smallBuffers, a corkedConn under every write) and
// dials it with the library as a client. serve runs on the server's side;
// the client's connection is returned.
func corkPair(t *testing.T, serve func(ws *websocket.Conn, out *corkedConn)) *websocket.Conn {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb := &smallBuffers{ResponseWriter: w, readRate: 1 << 20, readBurst: 1 << 20, pieceTimeout: 5 * time.Second}
		ws, err := websocket.Accept(sb, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		go func() {
			defer close(done)
			defer ws.CloseNow()
			serve(ws, sb.out)
		}()
	}))
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the server's side of the connection did not end within 10 s")
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(-1)
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

// message is the i-th message of the test: its size walks over every
// header form (7-bit, 16-bit, 64-bit length) and past the cork's limit.
func message(i int) []byte {
	sizes := []int{0, 1, 125, 126, 127, 1000, 65535, 65536, corkLimit + 1, 200_000}
	b := bytes.Repeat([]byte{byte(i)}, sizes[i%len(sizes)])
	return fmt.Appendf(b, "#%d", i)
}

// The writer's own frames and the library's control frames share the
// socket: whatever the sizes, corked or not, while pings go out from other
// goroutines and the client's pings are answered by the library, every
// message arrives whole and in order.
func TestCorkedConnFramesBesideTheLibrarys(t *testing.T) {
	const messages = 200
	client := corkPair(t, func(ws *websocket.Conn, out *corkedConn) {
		ctx := ws.CloseRead(context.Background()) // reads the pongs
		var pings sync.WaitGroup
		for range 4 {
			pings.Go(func() {
				for range 25 {
					if err := ws.Ping(ctx); err != nil {
						t.Errorf("ping: %v", err)
						return
					}
				}
			})
		}
		for i := range messages {
			if i%3 != 0 {
				out.cork()
			}
			if err := out.writeMessage(message(i)); err != nil {
				t.Errorf("message %d: %v", i, err)
				return
			}
			if i%7 == 6 {
				if err := out.uncork(); err != nil {
					t.Errorf("uncork: %v", err)
					return
				}
			}
		}
		if err := out.uncork(); err != nil {
			t.Errorf("uncork: %v", err)
		}
		pings.Wait()
		ws.Close(websocket.StatusNormalClosure, "")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pinged sync.WaitGroup
	pinged.Go(func() {
		for range 20 { // the client's pings, answered by the server's library
			if err := client.Ping(ctx); err != nil {
				return // the server closed first: the reads below say whether that was right
			}
		}
	})
	for i := range messages {
		typ, got, err := client.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for message %d: %v", i, err)
		}
		if want := message(i); typ != websocket.MessageBinary || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %v of %d bytes, want binary of %d", i, typ, len(got), len(want))
		}
	}
	_, _, err := client.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after the messages: %v, want the server's close (1000)", err)
	}
	pinged.Wait()
}

// Once the library has written a close frame (the close handshake has
// begun, here from another goroutine), the writer's frames are refused:
// nothing follows a close frame on the wire.
func TestCorkedConnNothingAfterClose(t *testing.T) {
	refused := make(chan error, 1)
	client := corkPair(t, func(ws *websocket.Conn, out *corkedConn) {
		if err := out.writeMessage([]byte("before")); err != nil {
			t.Errorf("before the close: %v", err)
		}
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			ws.Close(websocket.StatusGoingAway, "bye")
		}()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := out.writeMessage([]byte("after"))
			if err != nil {
				refused <- err
				break
			}
			if time.Now().After(deadline) {
				refused <- errors.New("no refusal within 10 s of the close")
				break
			}
			time.Sleep(time.Millisecond)
		}
		<-closed
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, got, err := client.Read(ctx); err != nil || string(got) != "before" {
		t.Fatalf("first message: %q, %v", got, err)
	}
	for {
		_, got, err := client.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("the close: %v, want 1001", err)
			}
			break
		}
		if string(got) != "after" {
			t.Fatalf("a message %q", got)
		}
	}
	if err := <-refused; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a frame after the close frame: %v, want net.ErrClosed", err)
	}
}

// track finds the library's frame boundaries however its bytes are split.
func TestCorkedConnTracksSplitFrames(t *testing.T) {
	var stream []byte
	for _, n := range []int{0, 5, 125, 126, 300, 65535, 65536, 70000} {
		stream = appendHeader(stream, n)
		stream = append(stream, make([]byte, n)...)
	}
	stream = append(stream, 0x88, 2, 0x03, 0xE8) // close, 1000
	for _, piece := range []int{1, 2, 3, 7, 1024, len(stream)} {
		c := newCorkedConn(nil, 0)
		for p := stream; len(p) > 0; {
			n := min(piece, len(p))
			c.track(p[:n])
			p = p[n:]
		}
		if c.libHeaderN != 0 || c.libLeft != 0 || !c.closeSent {
			t.Errorf("in pieces of %d: header %d bytes, %d left, close seen %v; want a boundary after a close",
				piece, c.libHeaderN, c.libLeft, c.closeSent)
		}
	}
}

// cnCountingConn records each Write on the server's side of a connection.
type cnCountingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *cnCountingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

type cnCountingListener struct {
	net.Listener
	conns chan *cnCountingConn
}

func (l cnCountingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &cnCountingConn{Conn: nc}
	l.conns <- c
	return c, nil
}

// With holdUpgrade, the upgrade's answer waits in the cork: the 101 and
// the first frames reach the socket in one write, and the client reads a
// well-formed handshake (the headers net/http would have written, Date
// included) followed by the frames.
func TestUpgradeGoesWithTheFirstFrames(t *testing.T) {
	conns := make(chan *cnCountingConn, 1)
	release := make(chan struct{}) // closed once the client has read both frames
	defer close(release)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb := &smallBuffers{ResponseWriter: w, readRate: 1 << 20, readBurst: 1 << 20, pieceTimeout: 5 * time.Second, holdUpgrade: true}
		ws, err := websocket.Accept(sb, r, &websocket.AcceptOptions{Subprotocols: []string{"cn.test"}})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		go func() {
			defer ws.CloseNow()
			for _, m := range []string{"first", "second"} {
				if err := sb.out.writeMessage([]byte(m)); err != nil {
					t.Errorf("%s: %v", m, err)
				}
			}
			if err := sb.out.uncork(); err != nil {
				t.Errorf("uncork: %v", err)
			}
			ws.CloseRead(context.Background())
			<-release
		}()
	}))
	srv.Listener = cnCountingListener{Listener: srv.Listener, conns: conns}
	srv.Start()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{"cn.test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != "cn.test" || res.Header.Get("Date") == "" || res.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("the handshake's answer: subprotocol %q, headers %v", ws.Subprotocol(), res.Header)
	}
	for _, want := range []string{"first", "second"} {
		_, got, err := ws.Read(ctx)
		if err != nil || string(got) != want {
			t.Fatalf("waiting for %q: %q, %v", want, got, err)
		}
	}
	c := <-conns
	c.mu.Lock()
	writes := c.writes
	c.mu.Unlock()
	if len(writes) == 0 {
		t.Fatal("the server wrote nothing")
	}
	if !bytes.HasPrefix(writes[0], []byte("HTTP/1.1 101 Switching Protocols\r\n")) ||
		!bytes.Contains(writes[0], []byte("first")) || !bytes.Contains(writes[0], []byte("second")) {
		t.Fatalf("%d writes, the first %q: want the 101 and both frames in one", len(writes), writes[0])
	}
}

// appendUpgrade writes what net/http writes for a 101 with the same
// header, and allocates nothing into a buffer with room.
func TestAppendUpgradeIsNetHTTPs(t *testing.T) {
	h := http.Header{}
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
	h.Set("Sec-WebSocket-Protocol", "txxt.v1")
	h["X-Cn-Odd"] = []string{" two\r\nlines ", "second"}
	now := time.Date(2026, 12, 1, 20, 0, 0, 0, time.FixedZone("CET", 3600))
	var want bytes.Buffer
	want.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	h.Write(&want)
	want.WriteString("Date: Tue, 01 Dec 2026 19:00:00 GMT\r\n\r\n")
	if got := appendUpgrade(nil, h, now); string(got) != want.String() {
		t.Fatalf("got\n%q\nwant\n%q", got, want.String())
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { appendUpgrade(buf, h, now) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
