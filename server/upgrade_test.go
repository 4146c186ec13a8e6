package server_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"txxt/wire"
	"txxt/world"
)

// A client may send its first frame at once, before it has read the
// upgrade's answer: here it comes in the same TCP write as the request,
// so it is already in the server's buffer when the connection is handed
// to the WebSocket library. It must be read as the frame it is (it was
// lost, and the bytes after it read as garbage: "unknown opcode").
func TestFirstFrameInTheUpgradesPacket(t *testing.T) {
	h := start(t, options{})
	nc, err := net.DialTimeout("tcp", h.hs.Listener.Addr().String(), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(wait))

	cmd := world.Command{Kind: world.CmdCreateService, Text: "at once"}
	payload := wire.AppendCommand(nil, true, 1, &cmd)
	mask := [4]byte{1, 2, 3, 4}
	frame := []byte{0x82, 0x80 | byte(len(payload))} // FIN + binary; masked, length < 126
	frame = append(frame, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	req := "GET /api/game HTTP/1.1\r\nHost: " + h.hs.Listener.Addr().String() + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: " + wire.Subprotocol + "\r\n" +
		"Authorization: Bearer " + h.admin + "\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatalf("waiting (%s at most) for the answer to the first frame: %v", wait, err)
		}
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			io.ReadFull(br, b[:])
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			io.ReadFull(br, b[:])
			n = binary.BigEndian.Uint64(b[:])
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatalf("reading a frame of %d bytes: %v", n, err)
		}
		switch op := hdr[0] & 0x0f; op {
		case 0x8:
			t.Fatalf("the server closed the connection: %q", body)
		case 0x2:
			f, err := wire.DecodeServerFrame(body, true)
			if err != nil {
				t.Fatalf("a frame that does not decode: %v", err)
			}
			if f.Type == wire.TypeError && f.Error.Request == 1 {
				t.Fatalf("the first frame was refused: %s %s", f.Error.Code, f.Error.Message)
			}
			if f.Type == wire.TypeAck && f.Ack.Request == 1 {
				return
			}
		case 0x9, 0xa: // ping, pong
		default:
			t.Fatalf("frame with opcode %d", op)
		}
	}
}

// Welcome tells the world's grid: a new connection's is read from its
// Snapshot, a resumed one's from the world.
func TestWelcomeTellsTheGrid(t *testing.T) {
	h := start(t, options{})
	a := h.dial(true, "")
	a.handshake()
	rev := a.ack(1, world.Command{Kind: world.CmdSetGrid, Grid: 15})
	w, snap := h.dial(true, "").handshake()
	if w.Grid != 15 || snap.Grid != 15 {
		t.Fatalf("a new connection after SetGrid 15: Welcome grid %d, Snapshot grid %d", w.Grid, snap.Grid)
	}
	resumed := h.dial(true, fmt.Sprintf("since=%d", rev))
	_, f := resumed.read()
	if f.Type != wire.TypeWelcome || f.Welcome.Grid != 15 {
		t.Fatalf("a resumed connection's first frame: 0x%02x, grid %d; want a Welcome with grid 15", f.Type, f.Welcome.Grid)
	}
}
