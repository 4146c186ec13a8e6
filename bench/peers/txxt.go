package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"txxt/wire"
	"txxt/world"
)

// txxtVariant runs the real txxt binary, built once from src (the
// repository's root) into a temporary file, or bin as given.
//
// The measured process must not hash a password: argon2id leaves 64 MiB
// free in its heap, which the connections' memory would then fill without
// the RSS moving. So a first process seeds the demo data and logs in once
// (sessions are kept in the save file); every run copies that data
// directory and serves it with the token.
func txxtVariant(src, bin string) variant {
	var once sync.Once
	var prepErr error
	var template, token string
	var cleanup []string
	prepare := func(ctx context.Context) {
		if bin == "" {
			f, err := os.CreateTemp("", "peers-txxt-")
			if err != nil {
				prepErr = err
				return
			}
			f.Close()
			bin = f.Name()
			cleanup = append(cleanup, bin)
			cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/txxt")
			cmd.Dir = src
			if out, err := cmd.CombinedOutput(); err != nil {
				prepErr = fmt.Errorf("go build ./cmd/txxt in %s: %v\n%s", src, err, out)
				return
			}
		}
		dir, err := os.MkdirTemp("", "peers-txxt-data-")
		if err != nil {
			prepErr = err
			return
		}
		cleanup = append(cleanup, dir)
		template = filepath.Join(dir, "data")
		ch, err := startTxxtProcess(ctx, bin, template)
		if err != nil {
			prepErr = err
			return
		}
		token, prepErr = txxtLogin(ctx, ch.url, "demo", "demo")
		ch.interrupt()
	}
	return variant{name: "txxt",
		start: func(ctx context.Context, dir string) (server, error) {
			once.Do(func() { prepare(ctx) })
			if prepErr != nil {
				return nil, prepErr
			}
			data := filepath.Join(dir, "txxt-data")
			if err := os.CopyFS(data, os.DirFS(template)); err != nil {
				return nil, fmt.Errorf("copy the demo data: %w", err)
			}
			ch, err := startTxxtProcess(ctx, bin, data)
			if err != nil {
				return nil, err
			}
			return &txxtServer{ch: ch, token: token}, nil
		},
		close: func() {
			for _, p := range cleanup {
				os.RemoveAll(p)
			}
		},
	}
}

// servingAt matches the line each server prints once it listens.
var servingAt = regexp.MustCompile(`serving .*at (http://[^/ ]+)/`)

// pprofAt matches txxt's line for its --pprof listener.
var pprofAt = regexp.MustCompile(`pprof at (http://[^/ ]+)/`)

// startTxxtProcess serves data (seeding the demo team on first use).
// --pprof only so that collect can ask for a GC before memory is read
// (/debug/pprof/heap?gc=1), as the other servers' /status?gc=1 does.
func startTxxtProcess(ctx context.Context, bin, data string) (*child, error) {
	return startChild(ctx, nil, []*regexp.Regexp{servingAt, pprofAt}, bin, "serve", "--demo", "--demo-tasks", "0",
		"--data", data, "--addr", "127.0.0.1:0", "--max-conns-per-host", "0", "--max-conns-per-user", "0", "--pprof", "127.0.0.1:0")
}

func txxtLogin(ctx context.Context, url, user, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/api/auth/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct{ Token, Code, Message string }
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 200 || out.Token == "" {
		return "", fmt.Errorf("login as %s: %d %s %s", user, res.StatusCode, out.Code, out.Message)
	}
	return out.Token, nil
}

type txxtServer struct {
	ch    *child
	token string
}

func (s *txxtServer) process() *child { return s.ch }

func (s *txxtServer) collect(ctx context.Context) error {
	return get(ctx, s.ch.urls[1]+"/debug/pprof/heap?gc=1", nil)
}

func (s *txxtServer) heap(ctx context.Context) (int64, error) {
	return statusHeap(ctx, s.ch.url+"/api/status")
}

// get fetches url, decoding its JSON body into out (nil: discarding it).
func get(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, res.Body)
		return err
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// statusHeap reads heap_bytes from a JSON status endpoint.
func statusHeap(ctx context.Context, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var out struct {
		Heap *int64 `json:"heap_bytes"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Heap == nil {
		return 0, fmt.Errorf("%s: no heap_bytes (%v)", url, err)
	}
	return *out.Heap, nil
}

// txxtConn is one txxt.v1 game connection past its Welcome and Snapshot.
type txxtConn struct {
	ws       *websocket.Conn
	snapshot *world.State
}

func (s *txxtServer) dial(ctx context.Context) (*txxtConn, error) {
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.ch.url, "http")+"/api/game", &websocket.DialOptions{
		Subprotocols: []string{wire.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + s.token}},
	})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(-1)
	c := &txxtConn{ws: ws}
	for c.snapshot == nil {
		_, raw, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			return nil, fmt.Errorf("before the Snapshot: %w", err)
		}
		if len(raw) > 0 && raw[0] == wire.TypeSnapshot {
			f, err := wire.DecodeServerFrame(raw, true)
			if err != nil {
				ws.CloseNow()
				return nil, err
			}
			c.snapshot = f.Snapshot
		}
	}
	return c, nil
}

func (c *txxtConn) close() { c.ws.CloseNow() }

// moved reports the (writer, slot) a TaskMoved event of the load carries.
func moved(raw []byte) (writer, slot int, ok bool) {
	if len(raw) == 0 || raw[0] != wire.TypeTaskMoved {
		return 0, 0, false
	}
	ev, err := wire.DecodeEvent(raw)
	if err != nil || ev.Task.Slot.Date == 0 || ev.Task.Slot.Start%5 != 0 {
		return 0, 0, false
	}
	return int(ev.Task.Slot.Start / 5), int(ev.Task.Slot.Date) - 1, true
}

func (s *txxtServer) dialReader(ctx context.Context, deliver deliverFunc) (conn, error) {
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			_, raw, err := c.ws.Read(context.Background())
			if err != nil {
				return
			}
			at := time.Now()
			if w, slot, ok := moved(raw); ok {
				deliver(w, slot, at)
			}
		}
	}()
	return c, nil
}

// txxtWriter moves its own task: MoveTask to date slot+1, start 5·index,
// duration 5, whose TaskMoved event is 31 bytes.
type txxtWriter struct {
	*txxtConn
	index             int
	task              world.ID
	request           atomic.Uint32
	accepted, refused atomic.Int64
	mu                sync.Mutex
	refusal           string
}

func (s *txxtServer) dialWriter(ctx context.Context, index int, deliver deliverFunc) (writerConn, error) {
	if index*5 >= 1440-5 {
		return nil, fmt.Errorf("txxt takes at most %d writers (one start time each)", (1440-5)/5)
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	if len(c.snapshot.Services) == 0 {
		c.close()
		return nil, fmt.Errorf("the demo world has no service to create a task in")
	}
	w := &txxtWriter{txxtConn: c, index: index}
	create := world.Command{Kind: world.CmdCreateTask, Service: c.snapshot.Services[0].ID,
		Priority: world.Medium, Slot: world.Slot{Date: 1, Start: uint16(index * 5), Duration: 5}, Text: fmt.Sprintf("peers writer %d", index)}
	w.request.Store(1)
	if err := c.ws.Write(ctx, websocket.MessageBinary, wire.AppendCommand(nil, true, 1, &create)); err != nil {
		c.close()
		return nil, err
	}
	// The server names the new task: its TaskCreated comes before the
	// Ack that carries the same revision.
	created := map[uint64]world.ID{}
	for {
		_, raw, err := c.ws.Read(ctx)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("creating the writer's task: %w", err)
		}
		if len(raw) == 0 || (raw[0] != wire.TypeTaskCreated && raw[0] != wire.TypeAck && raw[0] != wire.TypeError) {
			continue
		}
		f, err := wire.DecodeServerFrame(raw, true)
		if err != nil {
			c.close()
			return nil, err
		}
		if f.Type == wire.TypeTaskCreated {
			created[f.Event.Revision] = f.Event.Task.ID
			continue
		}
		if f.Type == wire.TypeError {
			c.close()
			return nil, fmt.Errorf("CreateTask refused: %s: %s", f.Error.Code, f.Error.Message)
		}
		if f.Ack.Request == 1 {
			id, ok := created[f.Ack.Revision]
			if !ok {
				c.close()
				return nil, fmt.Errorf("CreateTask acknowledged at revision %d without its TaskCreated", f.Ack.Revision)
			}
			w.task = id
			break
		}
	}
	go func() {
		for {
			_, raw, err := c.ws.Read(context.Background())
			if err != nil {
				return
			}
			at := time.Now()
			if len(raw) == 0 {
				continue
			}
			switch raw[0] {
			case wire.TypeTaskMoved:
				if wi, slot, ok := moved(raw); ok {
					deliver(wi, slot, at)
				}
			case wire.TypeAck:
				w.accepted.Add(1)
			case wire.TypeError:
				w.refused.Add(1)
				if f, err := wire.DecodeServerFrame(raw, true); err == nil {
					w.mu.Lock()
					if w.refusal == "" {
						w.refusal = fmt.Sprintf("%s: %s", f.Error.Code, f.Error.Message)
					}
					w.mu.Unlock()
				}
			}
		}
	}()
	return w, nil
}

func (w *txxtWriter) send(ctx context.Context, slot int, _ time.Time) error {
	cmd := world.Command{Kind: world.CmdMoveTask, Task: w.task, Slot: world.Slot{Date: uint16(slot + 1), Start: uint16(w.index * 5), Duration: 5}}
	return w.ws.Write(ctx, websocket.MessageBinary, wire.AppendCommand(nil, true, w.request.Add(1), &cmd))
}

func (w *txxtWriter) answered() (int64, int64, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.accepted.Load(), w.refused.Load(), w.refusal
}
