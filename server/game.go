package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/wire"
	"txxt/world"
)

// Close codes a game connection can end with, besides the standard 1001
// (server going away: reconnect), 1008 (policy: not allowed) and 1009 (frame
// over the size limit).
const (
	closeGarbage  websocket.StatusCode = 4001 // too many malformed frames in a row
	closeRevoked  websocket.StatusCode = 4002 // the login session ended: log in again
	closeTooSlow  websocket.StatusCode = 4003 // writes stalled past the deadline: resume from your revision
	closeNoAnswer websocket.StatusCode = 4004 // keepalive ping unanswered
)

// handleGame is a team's /api/game: take one of the remote host's
// connection slots, authenticate, check the origin and the membership,
// upgrade, serve.
func (s *Server) handleGame() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := s.teamOf(w, r)
		if t == nil {
			return
		}
		host := remoteHost(r)
		if !s.perHost.acquire(host) {
			s.metrics.dropped("too_many_connections")
			s.logger.Debug("game connection refused: too many from its address", "remote", r.RemoteAddr)
			writeError(w, http.StatusTooManyRequests, world.CodeTooManyConnections,
				fmt.Sprintf("Your address has %d pages of this server open, the most it may: close one, then reload this one.", s.limits.MaxConnsPerHost))
			return
		}
		served := false // from here on, the slot is released by serve
		defer func() {
			if !served {
				s.perHost.release(host)
			}
		}()
		login, status, err := s.authenticateUpgrade(r)
		if err != nil {
			s.logger.Warn("game connection refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
			if status == http.StatusServiceUnavailable || errors.Is(err, ErrNoSession) || errors.Is(err, ErrSessionExpiry) {
				s.apiError(w, r, err) // a store's error reaches the log, never the client
				return
			}
			writeError(w, status, world.CodeUnauthorized, sentence(err.Error()))
			return
		}
		role, ok, err := s.roleIn(t, login)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if !ok {
			writeError(w, http.StatusNotFound, world.CodeNotFound, noTeam(t.slug))
			return
		}
		login.Role = role // the Welcome says the role in this team
		if ok, userFull := s.conns.acquire(login.User); !ok {
			s.metrics.dropped("too_many_connections")
			msg := fmt.Sprintf("The server has %d pages open, the most it may: try again in a while.", s.limits.MaxConns)
			if userFull {
				msg = fmt.Sprintf("You have %d pages of this server open, the most one person may: close one, then reload this one.", s.limits.MaxConnsPerUser)
			}
			s.logger.Debug("game connection refused: too many", "remote", r.RemoteAddr, "user", login.Name, "per_user", userFull)
			writeError(w, http.StatusTooManyRequests, world.CodeTooManyConnections, msg)
			return
		}
		defer func() {
			if !served {
				s.conns.release(login.User)
			}
		}()
		q := r.URL.Query()
		c := &conn{
			s:        s,
			t:        t,
			host:     host,
			id:       engine.RandomID(),
			client:   engine.RandomID(),
			login:    login,
			ctrl:     make(chan []byte, controlQueue),
			resync:   make(chan struct{}, 1),
			notify:   make(chan struct{}, 1),
			inflight: make(chan struct{}, s.limits.MaxInflight),
			pings:    newBucket(s.limits.PingRate, s.limits.PingBurst, s.now()),
			dying:    make(chan struct{}),
			draining: make(chan struct{}),
		}
		c.answers.ready = c.notify
		if v := q.Get("client"); v != "" {
			id, ok := world.ParseID(v)
			if !ok || id.IsZero() {
				writeError(w, http.StatusBadRequest, world.CodeBadRequest, "The client parameter must be a UUID.")
				return
			}
			c.client = id
		}
		if v := q.Get("since"); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, world.CodeBadRequest, "The since parameter must be a revision number.")
				return
			}
			c.since, c.resume = n, true
		}
		// The 101 waits in the cork for the first frames (the writer's
		// first flush): one write, one segment for the client.
		sb := &smallBuffers{ResponseWriter: w, readRate: s.limits.ReadRate, readBurst: s.limits.ReadBurst, pieceTimeout: s.limits.WriteTimeout, holdUpgrade: true}
		ws, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
			Subprotocols: []string{wire.Subprotocol},
			// The origin was checked by authenticateUpgrade, with the
			// rules of this server (own origin, configured list, no
			// origin only with a bearer token).
			InsecureSkipVerify: true,
		})
		if err != nil {
			return // Accept has answered the request
		}
		c.ws, c.out = ws, sb.out
		c.v1 = ws.Subprotocol() == wire.Subprotocol
		ws.SetReadLimit(int64(s.limits.MaxFrame))
		if login.insecure {
			s.logger.Warn("INSECURE: game connection without login (--insecure-no-auth)", "remote", r.RemoteAddr)
		}
		// The socket is hijacked: the request's goroutine returns, and
		// with it the request and its headers are garbage.
		served = true
		go c.serve()
	})
}
