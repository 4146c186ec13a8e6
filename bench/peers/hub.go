package main

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// serveHub is the floor: a bare broadcast hub on coder/websocket. Every
// message a client sends is written to every connected client, itself
// included. Each connection has a bounded outbox (256 messages) and a
// writer goroutine; a client whose outbox is full is dropped, so a slow
// one cannot stall the others. No protocol, no state, nothing on disk.
func serveHub() error {
	if _, err := raiseFileLimit(0); err != nil {
		return err
	}
	h := &hub{conns: map[*hubConn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", h.serve)
	mux.HandleFunc("/status", handleStatus)
	return listenAndServe(mux)
}

// hub owns the set of connections under its lock.
type hub struct {
	mu    sync.RWMutex
	conns map[*hubConn]struct{}
}

type hubConn struct {
	ws     *websocket.Conn
	outbox chan []byte
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c := &hubConn{ws: ws, outbox: make(chan []byte, 256)}
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		close(c.outbox)
		ws.CloseNow()
	}()
	go func() {
		for msg := range c.outbox {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := ws.Write(ctx, websocket.MessageBinary, msg)
			cancel()
			if err != nil {
				ws.CloseNow()
				return
			}
		}
	}()
	for {
		_, msg, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		h.mu.RLock()
		for o := range h.conns {
			select {
			case o.outbox <- msg:
			default:
				o.ws.CloseNow() // too slow: its reader ends and removes it
			}
		}
		h.mu.RUnlock()
	}
}

// handleStatus reports the heap as txxt's /api/status does
// (runtime/metrics, which does not stop the world); with ?gc=1 it first
// runs a GC, as txxt's /debug/pprof/heap?gc=1 does.
func handleStatus(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") == "1" {
		runtime.GC()
	}
	mem := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	rtmetrics.Read(mem)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]uint64{"heap_bytes": mem[0].Value.Uint64(), "goroutines": mem[1].Value.Uint64()})
}

func hubVariant() variant {
	return variant{name: "hub", start: func(ctx context.Context, dir string) (server, error) {
		ch, err := startSelf(ctx, "hub")
		if err != nil {
			return nil, err
		}
		return &hubServer{ch: ch}, nil
	}}
}

type hubServer struct{ ch *child }

func (s *hubServer) process() *child { return s.ch }

func (s *hubServer) heap(ctx context.Context) (int64, error) {
	return statusHeap(ctx, s.ch.url+"/status")
}

func (s *hubServer) collect(ctx context.Context) error { return get(ctx, s.ch.url+"/status?gc=1", nil) }

type hubClient struct {
	ws    *websocket.Conn
	index int
	sent  atomic.Int64
}

func (s *hubServer) dial(ctx context.Context, deliver deliverFunc) (*hubClient, error) {
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.ch.url, "http")+"/ws", nil)
	if err != nil {
		return nil, err
	}
	c := &hubClient{ws: ws}
	go func() {
		for {
			_, raw, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			at := time.Now()
			if w, slot, ok := parsePayload(raw); ok {
				deliver(w, slot, at)
			}
		}
	}()
	return c, nil
}

func (s *hubServer) dialReader(ctx context.Context, deliver deliverFunc) (conn, error) {
	return s.dial(ctx, deliver)
}

func (s *hubServer) dialWriter(ctx context.Context, index int, deliver deliverFunc) (writerConn, error) {
	c, err := s.dial(ctx, deliver)
	if err != nil {
		return nil, err
	}
	c.index = index
	return c, nil
}

func (c *hubClient) close() { c.ws.CloseNow() }

func (c *hubClient) send(ctx context.Context, slot int, at time.Time) error {
	if err := c.ws.Write(ctx, websocket.MessageBinary, appendPayload(nil, c.index, slot, at)); err != nil {
		return err
	}
	c.sent.Add(1)
	return nil
}

// answered: the hub answers nothing, so every message sent counts as
// accepted.
func (c *hubClient) answered() (int64, int64, string) { return c.sent.Load(), 0, "" }
