package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	rtmetrics "runtime/metrics"
	"slices"
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
// only known fields, each named exactly as declared and given once
// (checkJSONNames).
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.limits.MaxBody))
	if err == nil {
		err = checkJSONNames(body, v)
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
		if err == nil && dec.Decode(&struct{}{}) != io.EOF {
			err = errors.New("more than one JSON value")
		}
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, world.CodeFrameTooLarge, fmt.Sprintf("The request is larger than this server takes: at most %d bytes.", s.limits.MaxBody))
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			writeError(w, http.StatusRequestTimeout, world.CodeBadRequest, fmt.Sprintf("The request did not arrive within %s: try again.", s.limits.ReadTimeout))
		} else {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, "The request is not the JSON this endpoint takes: "+strings.TrimPrefix(sentence(err.Error()), "Json: "))
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
			// No session is 401; sessions that cannot be read (a failing
			// save file) are 503, and the store's error goes to the log,
			// never to the client.
			s.apiError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	})
}

func sessionOf(r *http.Request) Session {
	s, _ := r.Context().Value(ctxKey{}).(Session)
	return s
}

// membership is a request's team and the requester's role in it.
type membership struct {
	t    *team
	role Role
}

type teamKey struct{}

func teamFrom(r *http.Request) membership {
	m, _ := r.Context().Value(teamKey{}).(membership)
	return m
}

// rank orders the roles by what they may do.
func rank(r Role) int {
	switch r {
	case RoleAdmin:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// inTeam runs next only for a member of the request's team (/t/{team}/…,
// or the only team) whose role there is at least min. To someone who is
// not a member, the team does not exist (404), so its name tells nothing.
func (s *Server) inTeam(min Role, next http.Handler) http.Handler {
	return s.authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := s.teamOf(w, r)
		if t == nil {
			return
		}
		role, ok, err := s.roleIn(t, sessionOf(r))
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if !ok {
			writeError(w, http.StatusNotFound, world.CodeNotFound, noTeam(t.slug))
			return
		}
		if rank(role) < rank(min) {
			writeError(w, http.StatusForbidden, world.CodeForbidden, forbiddenMessage(min))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), teamKey{}, membership{t: t, role: role})))
	}))
}

func forbiddenMessage(min Role) string {
	if min == RoleAdmin {
		return "Only an admin of this team may do this: ask one of them."
	}
	return "You can look at this team's calendar but not change it (your role is viewer): ask an admin to make you a member."
}

// forbidden says why role may not send a command of kind, or "" when it
// may: a viewer sends none, and only an admin changes the team's services,
// people and settings.
func forbidden(role Role, kind world.CommandKind) string {
	switch {
	case role == RoleViewer:
		return forbiddenMessage(RoleMember)
	case role == RoleAdmin:
		return ""
	}
	switch kind {
	case world.CmdSetGrid, world.CmdCreateService, world.CmdRenameService, world.CmdCreateUser, world.CmdRenameUser,
		world.CmdRecolorService, world.CmdArchiveService, world.CmdSetSchedule:
		return "Only an admin of this team can change its services, people and settings."
	}
	return ""
}

// roleIn returns the session's role in the team, and whether it is a
// member at all. The development mode and the local admin socket are
// admins everywhere.
func (s *Server) roleIn(t *team, sess Session) (Role, bool, error) {
	if sess.insecure || sess.operator {
		return RoleAdmin, true, nil
	}
	return s.accounts.Role(t.slug, sess.User)
}

// deployAdmin runs next only for an admin of the deployment (inside
// authed): the account's role now, not at login.
func (s *Server) deployAdmin(next http.Handler) http.Handler {
	return s.authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := sessionOf(r)
		if !sess.insecure && !sess.operator {
			acc, err := s.accounts.Get(sess.Name)
			if err != nil && !errors.Is(err, ErrNoSuchUser) {
				s.apiError(w, r, err)
				return
			}
			if err != nil || acc.ID != sess.User || acc.Role != RoleAdmin {
				writeError(w, http.StatusForbidden, world.CodeForbidden, "Only an admin of this server may do this.")
				return
			}
		}
		next.ServeHTTP(w, r)
	}))
}

func (s *Server) session(r *http.Request) (Session, error) {
	if r.Context().Value(operatorKey{}) != nil {
		return Session{Name: "operator", Role: RoleAdmin, operator: true}, nil
	}
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
		writeError(w, http.StatusForbidden, world.CodeUnauthorized, "A page from "+o+" may not change anything here: open this server's own address.")
		return false
	}
	return true
}

func (s *Server) originAllowed(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	// The scheme counts as much as the host: a page at http://NAME is
	// not the server at https://NAME (its traffic can be changed on the
	// way), nor one on another port.
	if strings.EqualFold(u.Host, r.Host) && u.Scheme == s.connScheme(r) {
		return true
	}
	if pub := strings.TrimSuffix(s.cfg.PublicURL, "/"); pub != "" && strings.EqualFold(pub, origin) {
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
		// A name is at most world.MaxName bytes, so the key is cut there:
		// a body of 64 KiB names makes keys of 69 bytes, not of 64 KiB.
		host, user := remoteHost(r), "user:"+req.Username[:min(len(req.Username), world.MaxName)]
		if wait := max(s.logins.allow(host, s.now()), s.logins.allow(user, s.now())); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
			writeError(w, http.StatusTooManyRequests, world.CodeRateLimited, "Too many failed logins: try again in "+wait.Round(time.Second).String()+".")
			return
		}
		if !s.hashing.acquire(r.Context()) {
			writeError(w, http.StatusServiceUnavailable, world.CodeOverloaded, "The server is busy logging others in: try again in a moment.")
			return
		}
		tok, sess, err := s.accounts.Login(req.Username, req.Password)
		s.hashing.release()
		if errors.Is(err, ErrBadLogin) {
			s.logins.failed(host, s.now())
			s.logins.failed(user, s.now())
			s.logger.Info("login refused", "user", boundedName(req.Username), "remote", r.RemoteAddr)
			writeError(w, http.StatusUnauthorized, world.CodeUnauthorized, "Wrong user name or password.")
			return
		}
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		teams, err := s.teamsFor(sess)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		// role: in the only team, as before teams; else the deployment's.
		role := sess.Role
		if t := s.only(); t != nil {
			if tr, ok, _ := s.accounts.Role(t.slug, sess.User); ok {
				role = tr
			}
		}
		s.setSessionCookie(w, r, tok, sess)
		// user is the original server's shape ({"id","username"}), so a
		// client written for it reads its answer; the rest is ours.
		me := map[string]any{"id": sess.User, "username": sess.Name}
		writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": me, "role": role.String(), "expires": sess.Expires, "teams": teams})
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
			writeError(w, http.StatusUnauthorized, world.CodeUnauthorized, "You are not logged in: there is no session to end.")
			return
		}
		s.revoke([]world.ID{sess.ID})
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.scheme(r) == "https", MaxAge: -1})
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleStatus is /api/status: anyone may read it. A team's own status
// (/t/{team}/api/status) is for its members; the path without a team
// answers with the only team's, as before there were teams, or with the
// deployment's totals when it holds several, naming none.
func (s *Server) handleStatus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all := s.teams.all()
		t := teamFrom(r).t
		if t == nil {
			t = s.only()
		}
		out := map[string]any{
			"version":        s.cfg.Version,
			"uptime_seconds": int64(s.now().Sub(s.started).Seconds()),
			"teams":          len(all),
			"latency_us":     s.metrics.status(), // per stage: samples, p50, p95, p99, max, mean (batch: commands)
			"dropped":        s.metrics.droppedCounts(),
		}
		scope := all
		if t != nil {
			scope = []*team{t}
			out["team"] = t.slug
			out["revision"] = t.eng.Revision()
			if t.st != nil {
				size, _ := t.st.Size()
				out["save_file_bytes"] = size
			}
		}
		if s.cluster != nil {
			// The node, the live nodes, and how many worlds it owns to
			// anyone; which teams, to the operator (their names tell
			// who uses the deployment); a team's owner, to its members.
			cl := s.clusterStatus(r.Context())
			if operator, _ := r.Context().Value(operatorKey{}).(bool); !operator {
				cl["owned"] = len(s.cluster.Owned())
				delete(cl, "owners")
			}
			if t := teamFrom(r).t; t != nil {
				// Every node serves every team; one owns its world (its
				// engine writes it), the others follow it.
				owner, err := s.cluster.Owner(r.Context(), t.slug)
				if err != nil {
					s.apiError(w, r, err)
					return
				}
				cl["owner"] = owner
				cl["owned_here"] = owner == s.cluster.Node() && slices.Contains(s.cluster.Owned(), t.slug)
			}
			out["cluster"] = cl
		}
		var tasks, services, users, conns, v1, degraded int
		var st engine.Stats
		reasons := []string{}
		for _, t := range scope {
			err := t.eng.Read(r.Context(), func(w *world.World) {
				a, b, c := w.Counts()
				tasks, services, users = tasks+a, services+b, users+c
			})
			if err != nil && !t.eng.Health().NotOwner { // a world another node owns now counts nothing here
				s.apiError(w, r, err)
				return
			}
			n, n1 := t.hub.count()
			conns, v1 = conns+n, v1+n1
			if h := t.eng.Health(); h.Degraded {
				degraded++
				reasons = append(reasons, h.Reason)
			}
			ts := t.eng.Stats()
			st.Accepted += ts.Accepted
			st.Rejected += ts.Rejected
			st.Duplicates += ts.Duplicates
			st.Batches += ts.Batches
			st.FailedCommits += ts.FailedCommits
			st.Overloaded += ts.Overloaded
		}
		out["tasks"], out["services"], out["users"] = tasks, services, users
		out["connections"], out["connections_v1"] = conns, v1
		out["degraded"] = degraded > 0
		out["degraded_reason"] = strings.Join(reasons, "; ")
		if t == nil {
			out["degraded_teams"] = degraded // a deployment's totals name no team
			out["degraded_reason"] = ""
			if degraded > 0 {
				out["degraded_reason"] = fmt.Sprintf("%d of %d teams' save files refuse writes", degraded, len(all))
			}
		}
		out["commands"] = map[string]uint64{"accepted": st.Accepted, "rejected": st.Rejected, "duplicates": st.Duplicates, "batches": st.Batches, "failed_commits": st.FailedCommits, "overloaded": st.Overloaded}
		// runtime/metrics, not ReadMemStats: it does not stop the world.
		mem := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/sched/goroutines:goroutines"}}
		rtmetrics.Read(mem)
		out["heap_bytes"] = mem[0].Value.Uint64()
		out["goroutines"] = mem[1].Value.Uint64()
		writeJSON(w, http.StatusOK, out)
	})
}

func (s *Server) handleHealthz() http.Handler {
	// Healthy means the process serves: a supervisor must not restart a
	// server whose disk is full (it would come back just as degraded).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz is 200 while every team takes commands. With one team it
// says why not, as before teams; with several it says how many, naming
// none (anyone may ask).
func (s *Server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all := s.teams.all()
		var reasons []string
		for _, t := range all {
			if h := t.eng.Health(); h.Degraded {
				reasons = append(reasons, h.Reason)
			}
		}
		switch {
		case len(reasons) == 0:
			writeJSON(w, http.StatusOK, map[string]any{"ready": true})
		case len(all) == 1:
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": reasons[0]})
		default:
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false,
				"reason": fmt.Sprintf("%d of %d teams' save files refuse writes", len(reasons), len(all))})
		}
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
	// WorkingDays is a bit a weekday, bit 0 Monday … bit 6 Sunday (31:
	// Monday to Friday); a PUT without it keeps the team's.
	WorkingDays int `json:"working_days"`
}

var defaultSettings = Settings{WorkdayStart: 8 * 60, WorkdayEnd: 18 * 60, FirstDayOfWeek: 0, TimeZone: "UTC", WorkingDays: int(world.MondayToFriday)}

// settings reads the team's settings from its world, where they are
// state every open page follows (GridChanged, ScheduleChanged).
func (t *team) settings(ctx context.Context) (Settings, error) {
	var out Settings
	err := t.eng.Read(ctx, func(w *world.World) {
		sch := w.Schedule()
		out = Settings{Grid: w.Grid(), WorkdayStart: int(sch.WorkdayStart), WorkdayEnd: int(sch.WorkdayEnd),
			FirstDayOfWeek: int(sch.FirstDay), TimeZone: sch.TimeZone, WorkingDays: int(sch.WorkingDays)}
	})
	return out, err
}

// migrateSettings moves the settings a save file of the time before they
// were world state kept in its settings table into the world, once.
func (t *team) migrateSettings(ctx context.Context) error {
	raw, err := t.tb.Get(ctx, "settings", "team")
	if err != nil || raw == nil {
		return err
	}
	set := defaultSettings
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("the settings table: %w", err)
	}
	cur, err := t.settings(ctx)
	if err != nil {
		return err
	}
	set.Grid = cur.Grid
	if set.WorkingDays < 1 || set.WorkingDays > int(world.AllWeek) {
		set.WorkingDays = cur.WorkingDays // the table never held working days
	}
	if set != cur {
		err := do(ctx, t, Session{}, world.Command{Kind: world.CmdSetSchedule, Schedule: world.Schedule{
			WorkdayStart: uint16(set.WorkdayStart), WorkdayEnd: uint16(set.WorkdayEnd), FirstDay: uint8(set.FirstDayOfWeek), TimeZone: set.TimeZone, WorkingDays: uint8(set.WorkingDays)}})
		if err != nil {
			return err
		}
	}
	return t.tb.Delete(ctx, "settings", "team")
}

func (s *Server) handleGetSettings() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, err := teamFrom(r).t.settings(r.Context())
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, set)
	})
}

func (s *Server) handlePutSettings() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := teamFrom(r).t
		set, err := t.settings(r.Context())
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		old := set
		if !s.decodeJSON(w, r, &set) {
			return
		}
		if !knownZone(set.TimeZone) {
			writeError(w, http.StatusBadRequest, world.CodeInvalidTimeZone, fmt.Sprintf("There is no time zone called %q: use a name such as Europe/Berlin or America/New_York.", set.TimeZone))
			return
		}
		if set.WorkdayStart < 0 || set.WorkdayEnd > world.MinutesPerDay || set.WorkdayStart >= set.WorkdayEnd {
			writeError(w, http.StatusBadRequest, world.CodeInvalidTime, "The workday must start before it ends, between 00:00 and 24:00.")
			return
		}
		if set.FirstDayOfWeek < 0 || set.FirstDayOfWeek > 6 {
			writeError(w, http.StatusBadRequest, world.CodeInvalidDate, "Choose the first day of the week from Monday to Sunday.")
			return
		}
		if set.WorkingDays < 1 || set.WorkingDays > int(world.AllWeek) {
			writeError(w, http.StatusBadRequest, world.CodeInvalidDate, "Choose at least one working day, from Monday to Sunday.")
			return
		}
		if set.Grid != old.Grid {
			if err := do(r.Context(), t, sessionOf(r), world.Command{Kind: world.CmdSetGrid, Grid: set.Grid}); err != nil {
				s.apiError(w, r, err)
				return
			}
		}
		if sch := (Settings{Grid: old.Grid, WorkdayStart: set.WorkdayStart, WorkdayEnd: set.WorkdayEnd, FirstDayOfWeek: set.FirstDayOfWeek, TimeZone: set.TimeZone, WorkingDays: set.WorkingDays}); sch != old {
			// One event every open page applies: no reload.
			err := do(r.Context(), t, sessionOf(r), world.Command{Kind: world.CmdSetSchedule, Schedule: world.Schedule{
				WorkdayStart: uint16(set.WorkdayStart), WorkdayEnd: uint16(set.WorkdayEnd), FirstDay: uint8(set.FirstDayOfWeek), TimeZone: set.TimeZone, WorkingDays: uint8(set.WorkingDays)}})
			if err != nil {
				s.apiError(w, r, err)
				return
			}
		}
		writeJSON(w, http.StatusOK, set)
	})
}

// do submits a command to the team's world for a JSON request and waits
// for its answer: nil when it was applied, else the engine's error or the
// world's refusal (a *world.Error).
func do(ctx context.Context, t *team, sess Session, c world.Command) error {
	res, err := t.eng.Do(ctx, engine.Request{Command: c, Actor: sess.User})
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	return nil
}

// revoke closes the game connections of the given sessions, in every team,
// on every node of a cluster.
func (s *Server) revoke(sessions []world.ID) {
	s.revokeHere(sessions)
	if len(sessions) > 0 {
		s.link.spread(revocation{Sessions: sessions})
	}
}

// revokeHere closes the game connections of the given sessions on this
// node.
func (s *Server) revokeHere(sessions []world.ID) {
	for _, t := range s.teams.all() {
		t.hub.revoke(sessions)
	}
}
