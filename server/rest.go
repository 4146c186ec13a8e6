package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"time"

	"txxt/engine"
	"txxt/world"
)

// apiError is every error the JSON API returns.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code world.Code, msg string) {
	writeJSON(w, status, apiError{Code: code.String(), Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decodeJSON reads a size-limited body holding exactly one JSON value with
// only known fields.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.limits.MaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, world.CodeFrameTooLarge, fmt.Sprintf("body over %d bytes", s.limits.MaxBody))
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			writeError(w, http.StatusRequestTimeout, world.CodeBadRequest, fmt.Sprintf("the request did not arrive within %s", s.limits.ReadTimeout))
		} else {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, "bad JSON: "+err.Error())
		}
		return false
	}
	return true
}

const cookieName = "txxt_session"

// token returns the request's session token: the bearer token, else the
// cookie.
func token(r *http.Request) (tok string, bearer bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t), true
		}
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value, false
	}
	return "", false
}

type ctxKey struct{}

// authed runs next only for a request with a live session. A request that
// changes something and comes from a browser (it has an Origin) must come
// from an allowed origin, on top of the cookie's SameSite=Strict.
func (s *Server) authed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.sameOrigin(w, r) {
			return
		}
		sess, err := s.session(r)
		if err != nil {
			status, code := sessionRefusal(err)
			writeError(w, status, code, "log in first: "+err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	})
}

// admin runs next only for an admin's session (inside authed).
func (s *Server) admin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sessionOf(r).Role != RoleAdmin {
			writeError(w, http.StatusForbidden, world.CodeUnauthorized, "only an admin may do this")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func sessionOf(r *http.Request) Session {
	s, _ := r.Context().Value(ctxKey{}).(Session)
	return s
}

func (s *Server) session(r *http.Request) (Session, error) {
	if s.cfg.InsecureNoAuth {
		return s.devSession(), nil
	}
	tok, _ := token(r)
	return s.accounts.Session(tok)
}

// devSession is the session every request has under --insecure-no-auth.
func (s *Server) devSession() Session {
	return Session{Name: "dev", Role: RoleAdmin, insecure: true}
}

// authenticateUpgrade checks a game connection: a live session, and an
// origin the server allows. A request without Origin is a program, not a
// browser: it must carry its token as a bearer token (a browser cannot
// omit Origin, so a cookie alone never passes without one). It returns the
// HTTP status to refuse with.
func (s *Server) authenticateUpgrade(r *http.Request) (Session, int, error) {
	_, bearer := token(r)
	origin := r.Header.Get("Origin")
	switch {
	case origin == "" && !bearer && !s.cfg.InsecureNoAuth:
		return Session{}, http.StatusUnauthorized, errors.New("a request without Origin must authenticate with a bearer token")
	case origin != "" && !s.originAllowed(r, origin):
		return Session{}, http.StatusForbidden, fmt.Errorf("origin %s is not allowed", origin)
	}
	sess, err := s.session(r)
	if err != nil {
		status, _ := sessionRefusal(err)
		return Session{}, status, fmt.Errorf("log in first: %w", err)
	}
	return sess, 0, nil
}

// sessionRefusal is the answer to a request whose session could not be
// had: 401 when there is none, but 503 when the sessions could not be read
// (a closing or failing save file), so that a client does not take a
// server's trouble for the end of its session.
func sessionRefusal(err error) (int, world.Code) {
	if errors.Is(err, ErrNoSession) || errors.Is(err, ErrSessionExpiry) {
		return http.StatusUnauthorized, world.CodeUnauthorized
	}
	return http.StatusServiceUnavailable, world.CodeStorageUnavailable
}

// sameOrigin answers 403 and returns false for a browser's request that
// changes something from an origin the server does not allow.
func (s *Server) sameOrigin(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	if o := r.Header.Get("Origin"); o != "" && !s.originAllowed(r, o) {
		writeError(w, http.StatusForbidden, world.CodeUnauthorized, "origin "+o+" is not allowed")
		return false
	}
	return true
}

func (s *Server) originAllowed(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

func (s *Server) handleLogin() http.Handler {
	type request struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.sameOrigin(w, r) {
			return
		}
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		// Failed logins are counted per address and per user name, so
		// neither many names from one address nor one name from many
		// addresses guesses fast.
		host, user := remoteHost(r), "user:"+req.Username
		if wait := max(s.logins.allow(host, s.now()), s.logins.allow(user, s.now())); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
			writeError(w, http.StatusTooManyRequests, world.CodeRateLimited, "too many failed logins: retry in "+wait.Round(time.Second).String())
			return
		}
		if !s.hashing.acquire(r.Context()) {
			writeError(w, http.StatusServiceUnavailable, world.CodeOverloaded, "too many logins at once: retry in a moment")
			return
		}
		tok, sess, err := s.accounts.Login(req.Username, req.Password)
		s.hashing.release()
		if errors.Is(err, ErrBadLogin) {
			s.logins.failed(host, s.now())
			s.logins.failed(user, s.now())
			s.logger.Info("login refused", "user", req.Username, "remote", r.RemoteAddr)
			writeError(w, http.StatusUnauthorized, world.CodeUnauthorized, err.Error())
			return
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, world.CodeStorageUnavailable, err.Error())
			return
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, Expires: sess.Expires})
		writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": sess.Name, "role": sess.Role.String(), "expires": sess.Expires})
	})
}

func (s *Server) handleLogout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.sameOrigin(w, r) {
			return
		}
		tok, _ := token(r)
		sess, err := s.accounts.Logout(tok)
		if err != nil {
			writeError(w, http.StatusUnauthorized, world.CodeUnauthorized, "no session to end")
			return
		}
		s.hub.revoke([]world.ID{sess.ID})
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) handleStatus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tasks, services, users int
		if err := s.eng.Read(r.Context(), func(w *world.World) { tasks, services, users = w.Counts() }); err != nil {
			writeError(w, http.StatusServiceUnavailable, world.CodeShuttingDown, err.Error())
			return
		}
		size, _ := s.st.Size()
		conns, v1 := s.hub.count()
		h := s.eng.Health()
		st := s.eng.Stats()
		lat := s.metrics.status()
		// runtime/metrics, not ReadMemStats: it does not stop the world.
		mem := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/sched/goroutines:goroutines"}}
		rtmetrics.Read(mem)
		writeJSON(w, http.StatusOK, map[string]any{
			"version":         s.cfg.Version,
			"uptime_seconds":  int64(s.now().Sub(s.started).Seconds()),
			"revision":        s.eng.Revision(),
			"tasks":           tasks,
			"services":        services,
			"users":           users,
			"connections":     conns,
			"connections_v1":  v1,
			"degraded":        h.Degraded,
			"degraded_reason": h.Reason,
			"save_file_bytes": size,
			"commands":        map[string]uint64{"accepted": st.Accepted, "rejected": st.Rejected, "duplicates": st.Duplicates, "batches": st.Batches, "failed_commits": st.FailedCommits, "overloaded": st.Overloaded},
			"latency_us":      lat, // per stage: samples, p50, p95, p99, max, mean (batch: commands)
			"dropped":         s.metrics.droppedCounts(),
			"heap_bytes":      mem[0].Value.Uint64(),
			"goroutines":      mem[1].Value.Uint64(),
		})
	})
}

func (s *Server) handleHealthz() http.Handler {
	// Healthy means the process serves: a supervisor must not restart a
	// server whose disk is full (it would come back just as degraded).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func (s *Server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := s.eng.Health(); h.Degraded {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": h.Reason})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ready": true})
	})
}

// Settings are the team's settings. The grid lives in the world (it is a
// rule commands obey), the rest in the settings table.
type Settings struct {
	Grid           uint16 `json:"grid"`
	WorkdayStart   int    `json:"workday_start"` // minutes from midnight
	WorkdayEnd     int    `json:"workday_end"`
	FirstDayOfWeek int    `json:"first_day_of_week"` // 0 Monday … 6 Sunday
	TimeZone       string `json:"time_zone"`
}

var defaultSettings = Settings{WorkdayStart: 8 * 60, WorkdayEnd: 18 * 60, FirstDayOfWeek: 0, TimeZone: "UTC"}

func (s *Server) settings(ctx context.Context) (Settings, error) {
	out := defaultSettings
	raw, err := s.st.Table("settings").Get("team")
	if err != nil {
		return out, err
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &out); err != nil {
			return out, err
		}
	}
	err = s.eng.Read(ctx, func(w *world.World) { out.Grid = w.Grid() })
	return out, err
}

func (s *Server) handleGetSettings() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, err := s.settings(r.Context())
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, world.CodeStorageUnavailable, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, set)
	})
}

func (s *Server) handlePutSettings() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, err := s.settings(r.Context())
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, world.CodeStorageUnavailable, err.Error())
			return
		}
		oldGrid := set.Grid
		if !s.decodeJSON(w, r, &set) {
			return
		}
		if _, err := time.LoadLocation(set.TimeZone); err != nil || set.TimeZone == "" {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, "unknown time zone "+set.TimeZone)
			return
		}
		if set.WorkdayStart < 0 || set.WorkdayEnd > world.MinutesPerDay || set.WorkdayStart >= set.WorkdayEnd {
			writeError(w, http.StatusBadRequest, world.CodeInvalidTime, "working hours must satisfy 0 ≤ start < end ≤ 1440")
			return
		}
		if set.FirstDayOfWeek < 0 || set.FirstDayOfWeek > 6 {
			writeError(w, http.StatusBadRequest, world.CodeInvalidDate, "first_day_of_week is 0 (Monday) to 6 (Sunday)")
			return
		}
		if set.Grid != oldGrid {
			res, err := s.eng.Do(r.Context(), engine.Request{Command: world.Command{Kind: world.CmdSetGrid, Grid: set.Grid}, Actor: sessionOf(r).User})
			if err != nil {
				writeError(w, http.StatusServiceUnavailable, world.CodeOverloaded, err.Error())
				return
			}
			if res.Err != nil {
				status := http.StatusBadRequest
				if res.Err.Code == world.CodeStorageUnavailable {
					status = http.StatusServiceUnavailable
				}
				writeError(w, status, res.Err.Code, res.Err.Message)
				return
			}
		}
		stored := set
		stored.Grid = 0
		raw, _ := json.Marshal(stored)
		if err := s.st.Table("settings").Put("team", raw); err != nil {
			writeError(w, http.StatusServiceUnavailable, world.CodeStorageUnavailable, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, set)
	})
}
