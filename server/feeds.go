package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"txxt/engine"
	"txxt/tables"
	"txxt/world"
)

// A calendar feed is a read-only iCalendar (RFC 5545) view of a team's
// plan that a member's calendar app subscribes to: their own tasks, one
// service's, or the whole team's. Its URL carries a long random token,
// which is the only credential (calendar apps send no session): the team's
// team's tables (team.tb) keep only the token's SHA-256, in its feeds table:
//
//	"id:" + feed id → feedRecord (JSON)
//	"h:" + hex SHA-256 of the token → feed id
//
// A feed lives while its owner is a member of the team and until the owner
// revokes it. Each token is rate limited (feedRate a second, feedBurst at
// once), so a leaked URL cannot make the server rebuild a feed without
// end.

// tableFeeds is the team's table of its calendar feeds.
const tableFeeds = "feeds"

const (
	feedRate     = 1.0 // feed fetches a second per token, on average
	feedBurst    = 10
	feedLimiters = 10000 // tokens whose buckets are remembered; past it the table starts afresh
	maxFeeds     = 50    // feeds one member may hold in one team
)

// Feed scopes.
const (
	scopeMe      = "me"
	scopeService = "service"
	scopeTeam    = "team"
)

type feedRecord struct {
	ID      world.ID  `json:"id"`
	Owner   world.ID  `json:"owner"`
	Scope   string    `json:"scope"`
	Service world.ID  `json:"service,omitzero"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

// feedLimiter holds a token bucket per feed token (by its hash).
type feedLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

func (l *feedLimiter) allow(hash string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil || len(l.buckets) >= feedLimiters {
		l.buckets = make(map[string]*bucket)
	}
	b, ok := l.buckets[hash]
	if !ok {
		nb := newBucket(feedRate, feedBurst, now)
		b = &nb
		l.buckets[hash] = b
	}
	return b.take(now)
}

type feedView struct {
	ID      world.ID  `json:"id"`
	Scope   string    `json:"scope"`
	Service *world.ID `json:"service,omitempty"`
	Created time.Time `json:"created"`
	URL     string    `json:"url,omitempty"` // only when it is made: the server keeps no token
}

func viewOf(f feedRecord) feedView {
	v := feedView{ID: f.ID, Scope: f.Scope, Created: f.Created}
	if f.Scope == scopeService {
		svc := f.Service
		v.Service = &svc
	}
	return v
}

// myFeeds returns the requester's feeds in the team, oldest first.
func myFeeds(t *team, owner world.ID) ([]feedRecord, error) {
	var out []feedRecord
	var bad error
	err := t.tb.Range(context.Background(), tableFeeds, "id:", "", func(key string, val []byte) bool {
		var f feedRecord
		if err := json.Unmarshal(val, &f); err != nil {
			bad = fmt.Errorf("feed %s: %w", key, err)
			return false
		}
		if f.Owner == owner {
			out = append(out, f)
		}
		return true
	})
	err = cmp.Or(err, bad)
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

func (s *Server) handleCreateFeed() http.Handler {
	type request struct {
		Scope   string   `json:"scope"`
		Service world.ID `json:"service"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		m, sess := teamFrom(r), sessionOf(r)
		switch req.Scope {
		case scopeMe, scopeTeam:
			req.Service = world.ID{}
		case scopeService:
			var ok bool
			if err := m.t.eng.Read(r.Context(), func(w *world.World) { _, ok = w.Service(req.Service) }); err != nil {
				s.apiError(w, r, err)
				return
			}
			if !ok {
				s.apiError(w, r, &world.Error{Code: world.CodeServiceNotFound, Message: "There is no such service in this team: choose one of its services for the feed."})
				return
			}
		default:
			s.apiError(w, r, &world.Error{Code: world.CodeBadRequest, Message: `A feed's scope is "me" (your tasks), "service" (one service's, with "service": its id) or "team" (everyone's).`})
			return
		}
		mine, err := myFeeds(m.t, sess.User)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if len(mine) >= maxFeeds {
			s.apiError(w, r, fmt.Errorf("%w: you may hold %d calendar feeds in a team; revoke one you no longer use", ErrQuota, maxFeeds))
			return
		}
		var raw [32]byte
		rand.Read(raw[:])
		tok := base64.RawURLEncoding.EncodeToString(raw[:])
		f := feedRecord{ID: engine.RandomID(), Owner: sess.User, Scope: req.Scope, Service: req.Service, Hash: tokenHash(tok), Created: s.now().UTC()}
		val, _ := json.Marshal(f)
		err = tables.Do(r.Context(), m.t.tb, func(tx tables.Tx) error {
			if err := tx.Put(tableFeeds, "id:"+f.ID.String(), val); err != nil {
				return err
			}
			return tx.Put(tableFeeds, "h:"+f.Hash, []byte(f.ID.String()))
		})
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		v := viewOf(f)
		v.URL = s.baseURL(r) + "/feeds/" + tok + ".ics"
		writeJSON(w, http.StatusOK, v)
	})
}

func (s *Server) handleListFeeds() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mine, err := myFeeds(teamFrom(r).t, sessionOf(r).User)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		out := make([]feedView, 0, len(mine))
		for _, f := range mine {
			out = append(out, viewOf(f))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func (s *Server) handleDeleteFeed() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, sess := teamFrom(r).t, sessionOf(r)
		id, ok := world.ParseID(r.PathValue("id"))
		var f feedRecord
		if ok {
			val, err := t.tb.Get(r.Context(), tableFeeds, "id:"+id.String())
			if err != nil {
				s.apiError(w, r, err)
				return
			}
			ok = val != nil && json.Unmarshal(val, &f) == nil && f.Owner == sess.User
		}
		if !ok {
			s.apiError(w, r, &world.Error{Code: world.CodeNotFound, Message: "You have no calendar feed with that id in this team."})
			return
		}
		err := tables.Do(r.Context(), t.tb, func(tx tables.Tx) error {
			if err := tx.Delete(tableFeeds, "id:"+f.ID.String()); err != nil {
				return err
			}
			return tx.Delete(tableFeeds, "h:"+f.Hash)
		})
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// findFeed returns the feed a token opens, and its team.
func (s *Server) findFeed(ctx context.Context, tok string) (*team, feedRecord, bool, error) {
	hash := tokenHash(tok)
	for _, t := range s.teams.all() {
		if t.archived.Load() {
			continue
		}
		id, err := t.tb.Get(ctx, tableFeeds, "h:"+hash)
		if err != nil {
			return nil, feedRecord{}, false, err
		}
		if id == nil {
			continue
		}
		val, err := t.tb.Get(ctx, tableFeeds, "id:"+string(id))
		if err != nil || val == nil {
			return nil, feedRecord{}, false, err
		}
		var f feedRecord
		if err := json.Unmarshal(val, &f); err != nil {
			return nil, feedRecord{}, false, fmt.Errorf("feed %s: %w", id, err)
		}
		return t, f, true, nil
	}
	return nil, feedRecord{}, false, nil
}

// handleFeed answers GET /feeds/{token}.ics: the feed as text/calendar.
// The token is the credential; an unknown, revoked or orphaned one (its
// owner left the team) answers 404, saying nothing of which.
func (s *Server) handleFeed() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutSuffix(r.PathValue("file"), ".ics")
		gone := &world.Error{Code: world.CodeNotFound, Message: "There is no calendar feed at this address: it may have been revoked. Make a new one in txxt."}
		if !ok || len(tok) < 40 {
			s.apiError(w, r, gone)
			return
		}
		t, f, ok, err := s.findFeed(r.Context(), tok)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if ok {
			_, ok, err = s.roleIn(t, Session{User: f.Owner})
			if err != nil {
				s.apiError(w, r, err)
				return
			}
		}
		if !ok {
			s.apiError(w, r, gone)
			return
		}
		if !s.feedLimits.allow(f.Hash, s.now()) {
			w.Header().Set("Retry-After", "1")
			s.apiError(w, r, &world.Error{Code: world.CodeRateLimited, Message: "This calendar feed was fetched too often: try again in a few seconds."})
			return
		}
		var cal calendar
		err = t.eng.Read(r.Context(), func(w *world.World) { cal = calendarOf(w, f) })
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		body, err := cal.encode(host, s.now().UTC(), &s.feedZones)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	})
}
