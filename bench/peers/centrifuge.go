package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge"
	"github.com/centrifugal/protocol"
	"github.com/coder/websocket"
)

// channel is the one channel every centrifuge client subscribes to.
const channel = "peers"

// serveCentrifuge is the centrifuge server, as its README's tutorial sets
// it up: a Node with the default Config (its in-memory broker), every
// connection accepted as an anonymous user by an HTTP middleware, every
// subscription and every client publication accepted, the WebSocket
// handler with the default WebsocketConfig. The tutorial's log lines per
// event are left out (they would measure the log). /status reports the
// heap as txxt's /api/status does.
func serveCentrifuge() error {
	if _, err := raiseFileLimit(0); err != nil {
		return err
	}
	node, err := centrifuge.New(centrifuge.Config{})
	if err != nil {
		return err
	}
	node.OnConnect(func(client *centrifuge.Client) {
		client.OnSubscribe(func(e centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			cb(centrifuge.SubscribeReply{}, nil)
		})
		client.OnPublish(func(e centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			cb(centrifuge.PublishReply{}, nil)
		})
		client.OnDisconnect(func(e centrifuge.DisconnectEvent) {})
	})
	if err := node.Run(); err != nil {
		return err
	}
	auth := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := centrifuge.SetCredentials(r.Context(), &centrifuge.Credentials{UserID: ""})
			h.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", auth(centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{})))
	mux.HandleFunc("/status", handleStatus)
	return listenAndServe(mux)
}

// listenAndServe serves mux on a free loopback port and prints the
// address the load generator waits for.
func listenAndServe(mux http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "serving at http://%s/\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

func centrifugeVariant() variant {
	return variant{name: "centrifuge", start: func(ctx context.Context, dir string) (server, error) {
		ch, err := startSelf(ctx, "centrifuge")
		if err != nil {
			return nil, err
		}
		return &centrifugeServer{ch: ch}, nil
	}}
}

// startSelf starts this program again as the named server (see main).
func startSelf(ctx context.Context, name string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startChild(ctx, []string{childEnv + "=" + name}, []*regexp.Regexp{servingAt}, self)
}

type centrifugeServer struct{ ch *child }

func (s *centrifugeServer) process() *child { return s.ch }

func (s *centrifugeServer) heap(ctx context.Context) (int64, error) {
	return statusHeap(ctx, s.ch.url+"/status")
}

func (s *centrifugeServer) collect(ctx context.Context) error {
	return get(ctx, s.ch.url+"/status?gc=1", nil)
}

// centrifugeConn is one client speaking centrifuge's protobuf protocol
// (client protocol v2) over WebSocket: connected, and subscribed to the
// channel. Its reader answers the server's pings (an empty reply) with an
// empty command, as the SDKs do.
type centrifugeConn struct {
	ws                *websocket.Conn
	next              atomic.Uint32 // command ids
	accepted, refused atomic.Int64
	mu                sync.Mutex
	refusal           string
}

var commandEncoder = protocol.NewProtobufCommandEncoder()

func (c *centrifugeConn) command(ctx context.Context, cmd *protocol.Command) error {
	b, err := commandEncoder.Encode(cmd)
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageBinary, b)
}

// call sends cmd and reads until its reply (only while setting up).
func (c *centrifugeConn) call(ctx context.Context, cmd *protocol.Command) (*protocol.Reply, error) {
	cmd.Id = c.next.Add(1)
	if err := c.command(ctx, cmd); err != nil {
		return nil, err
	}
	for {
		_, raw, err := c.ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		d := protocol.NewProtobufReplyDecoder(raw)
		for {
			r, err := d.Decode()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			if r.Id == cmd.Id {
				if r.Error != nil {
					return nil, fmt.Errorf("centrifuge error %d: %s", r.Error.Code, r.Error.Message)
				}
				return r, nil
			}
		}
	}
}

func (s *centrifugeServer) dial(ctx context.Context, deliver deliverFunc) (*centrifugeConn, error) {
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.ch.url, "http")+"/connection/websocket", &websocket.DialOptions{
		Subprotocols: []string{"centrifuge-protobuf"},
	})
	if err != nil {
		return nil, err
	}
	if ws.Subprotocol() != "centrifuge-protobuf" {
		ws.CloseNow()
		return nil, fmt.Errorf("the server did not take the protobuf protocol")
	}
	ws.SetReadLimit(-1)
	c := &centrifugeConn{ws: ws}
	if _, err := c.call(ctx, &protocol.Command{Connect: &protocol.ConnectRequest{Name: "peers"}}); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := c.call(ctx, &protocol.Command{Subscribe: &protocol.SubscribeRequest{Channel: channel}}); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	go c.readLoop(deliver)
	return c, nil
}

func (c *centrifugeConn) readLoop(deliver deliverFunc) {
	d := protocol.NewProtobufReplyDecoder(nil)
	for {
		_, raw, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		at := time.Now()
		d.Reset(raw)
		for {
			r, err := d.Decode()
			if err != nil {
				break
			}
			switch {
			case r.Push != nil:
				if r.Push.Pub != nil {
					if w, slot, ok := parsePayload(r.Push.Pub.Data); ok {
						deliver(w, slot, at)
					}
				}
			case r.Id != 0:
				if r.Error != nil {
					c.refused.Add(1)
					c.mu.Lock()
					if c.refusal == "" {
						c.refusal = fmt.Sprintf("centrifuge error %d: %s", r.Error.Code, r.Error.Message)
					}
					c.mu.Unlock()
				} else {
					c.accepted.Add(1)
				}
			default: // a ping
				go c.command(context.Background(), &protocol.Command{})
			}
		}
	}
}

func (c *centrifugeConn) close() { c.ws.CloseNow() }

func (s *centrifugeServer) dialReader(ctx context.Context, deliver deliverFunc) (conn, error) {
	return s.dial(ctx, deliver)
}

func (s *centrifugeServer) dialWriter(ctx context.Context, index int, deliver deliverFunc) (writerConn, error) {
	c, err := s.dial(ctx, deliver)
	if err != nil {
		return nil, err
	}
	return &centrifugeWriter{centrifugeConn: c, index: index}, nil
}

// centrifugeWriter publishes 31-byte payloads into the channel.
type centrifugeWriter struct {
	*centrifugeConn
	index int
}

func (w *centrifugeWriter) send(ctx context.Context, slot int, at time.Time) error {
	return w.command(ctx, &protocol.Command{Id: w.next.Add(1), Publish: &protocol.PublishRequest{Channel: channel, Data: appendPayload(nil, w.index, slot, at)}})
}

func (w *centrifugeWriter) answered() (int64, int64, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.accepted.Load(), w.refused.Load(), w.refusal
}
