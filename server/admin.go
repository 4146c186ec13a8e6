package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"txxt/engine"
	"txxt/world"
)

// The administration, while the server runs: a team's admin manages its
// members, invitations and services; a deployment's admin its teams and
// accounts; everyone their own password and sessions. Every handler here
// answers errors through apiError.

// InviteTTL is how long an invitation link is valid.
const InviteTTL = 7 * 24 * time.Hour

// baseURL is where people reach the server, for the links it makes.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// setSessionCookie gives a browser its session. The cookie is Secure
// (sent over HTTPS only) whenever the browser reached the server over
// HTTPS (scheme).
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, tok string, sess Session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.scheme(r) == "https", Expires: sess.Expires})
}

// scheme is how the browser reached the server, for its session cookie:
// "https" when connScheme says so, or when --public-url is https (the
// operator says people reach it so: a TLS-terminating proxy in front).
func (s *Server) scheme(r *http.Request) string {
	if strings.HasPrefix(s.cfg.PublicURL, "https://") {
		return "https"
	}
	return s.connScheme(r)
}

// connScheme is the scheme of this request's own way in: "https" when
// the connection is TLS, or when a proxy named in --trusted-proxy says so
// in X-Forwarded-Proto; else "http". The header is believed only from
// those proxies' addresses: anyone else can send it.
func (s *Server) connScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" && slices.Contains(s.cfg.TrustedProxies, remoteHost(r)) {
		if first, _, _ := strings.Cut(p, ","); strings.EqualFold(strings.TrimSpace(first), "https") {
			return "https"
		}
	}
	return "http"
}

// teamView is a team as the page sees it: with the user's role in it.
type teamView struct {
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Archived bool   `json:"archived,omitempty"`
}

// teamsFor returns the teams the session may open, by slug.
func (s *Server) teamsFor(sess Session) ([]teamView, error) {
	all, err := s.accounts.Teams()
	if err != nil {
		return nil, err
	}
	var roles map[string]Role
	if !sess.insecure && !sess.operator {
		if roles, err = s.accounts.TeamsOf(sess.User); err != nil {
			return nil, err
		}
	}
	out := []teamView{}
	for _, t := range all {
		role, ok := roles[t.Slug]
		if sess.insecure || sess.operator {
			role, ok = RoleAdmin, true
		}
		if ok {
			out = append(out, teamView{Slug: t.Slug, Name: t.Name, Role: role.String(), Archived: t.Archived})
		}
	}
	return out, nil
}

func (s *Server) handleMe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := sessionOf(r)
		teams, err := s.teamsFor(sess)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		admin := sess.insecure || sess.operator
		if !admin {
			acc, err := s.accounts.Get(sess.Name)
			if err != nil {
				s.apiError(w, r, err)
				return
			}
			admin = acc.Role == RoleAdmin
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": sess.User, "name": sess.Name, "admin": admin, "teams": teams, "session": sess.ID})
	})
}

func (s *Server) handleMyPassword() http.Handler {
	type request struct {
		Old string `json:"old_password"`
		New string `json:"new_password"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		sess := sessionOf(r)
		acc, err := s.accounts.Get(sess.Name)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if !s.hashing.acquire(r.Context()) {
			writeError(w, http.StatusServiceUnavailable, world.CodeOverloaded, "The server is busy: try again in a moment.")
			return
		}
		ok := CheckPassword(acc.Hash, req.Old)
		s.hashing.release()
		if !ok {
			writeError(w, http.StatusForbidden, world.CodeUnauthorized, "Your current password is not the one you typed: nothing was changed.")
			return
		}
		if err := s.accounts.SetPassword(acc.Name, req.New); err != nil {
			s.apiError(w, r, err)
			return
		}
		s.closeUser(acc.ID)
		// Every session ended with the old password, this one too: the
		// browser that changed it gets a new one.
		tok, ns, err := s.accounts.Login(acc.Name, req.New)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		s.setSessionCookie(w, r, tok, ns)
		writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expires": ns.Expires})
	})
}

// sessionView is a session as its owner or an admin sees it: never its
// token or hash.
type sessionView struct {
	ID      world.ID  `json:"id"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Current bool      `json:"current,omitempty"`
}

func sessionViews(list []Session, current world.ID) []sessionView {
	out := make([]sessionView, 0, len(list))
	for _, s := range list {
		out = append(out, sessionView{ID: s.ID, Created: s.Created, Expires: s.Expires, Current: s.ID == current})
	}
	return out
}

// pageSessions answers a page of sessions, newest first; a session's
// cursor is its creation time and id, so a page's place survives the
// sessions that end in between.
func pageSessions(w http.ResponseWriter, r *http.Request, pg page, list []Session) []Session {
	cursor := func(s Session) string { return fmt.Sprintf("%020d.%s", s.Created.UnixNano(), s.ID) }
	return pageSlice(w, r, pg, list, func(s Session) bool { return cursor(s) < pg.after }, cursor)
}

func (s *Server) handleMySessions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := sessionOf(r)
		pg, ok := pageOf(w, r)
		if !ok {
			return
		}
		list, err := s.accounts.Sessions(sess.User)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, sessionViews(pageSessions(w, r, pg, list), sess.ID))
	})
}

func (s *Server) handleEndMySession() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := world.ParseID(r.PathValue("id"))
		if !ok {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, "A session is named by its id, a UUID.")
			return
		}
		sess := sessionOf(r)
		if err := s.accounts.EndSession(sess.User, id); errors.Is(err, ErrNoSession) {
			writeError(w, http.StatusNotFound, world.CodeNotFound, "You have no such session: it may have ended already.")
			return
		} else if err != nil {
			s.apiError(w, r, err)
			return
		}
		s.revoke([]world.ID{id})
		w.WriteHeader(http.StatusNoContent)
	})
}

// closeUser closes a user's game connections in every team, on every node
// of a cluster.
func (s *Server) closeUser(user world.ID) {
	for _, t := range s.teams.all() {
		t.hub.revokeUser(user)
	}
	s.link.spread(revocation{User: user})
}

// closeMember closes a member's game connections in a team (their
// membership or role changed), on every node of a cluster.
func (s *Server) closeMember(t *team, user world.ID) {
	t.hub.revokeUser(user)
	s.link.spread(revocation{User: user, Team: t.slug})
}

// First run: a server with no team prints a setup link with a one-time
// token; the page at /setup?token=… creates the first team and its admin.

func (s *Server) handleSetupNeeded() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"needed": s.teams.len() == 0, "can_add_teams": s.open != nil})
	})
}

func (s *Server) handleSetup() http.Handler {
	type request struct {
		Token    string `json:"token"`
		Team     string `json:"team"`
		Slug     string `json:"slug"`
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
		req.Team = strings.TrimSpace(req.Team)
		if req.Slug == "" {
			req.Slug = SlugFor(req.Team)
		}
		for _, err := range []error{validTeamName(req.Team), slugError(req.Slug), nameError(req.Username), validPassword(req.Password)} {
			if err != nil {
				s.apiError(w, r, err)
				return
			}
		}
		if !s.notGuessing(w, r) {
			return
		}
		s.settingUp.Lock()
		defer s.settingUp.Unlock()
		if !s.accounts.setupValid(req.Token) {
			s.logins.failed(remoteHost(r), s.now())
			s.apiError(w, r, ErrNoSetup)
			return
		}
		// The admin's account is made first: a name that is taken is
		// refused before anything exists.
		if _, err := s.accounts.Create(req.Username, req.Password, RoleAdmin); err != nil {
			s.apiError(w, r, err)
			return
		}
		info, err := s.CreateTeam(r.Context(), req.Slug, req.Team)
		if err != nil {
			s.accounts.Remove(req.Username)
			s.apiError(w, r, err)
			return
		}
		if _, err := s.AddMember(r.Context(), info.Slug, req.Username, "", RoleAdmin); err != nil {
			s.apiError(w, r, err)
			return
		}
		if err := s.accounts.spendSetup(req.Token); err != nil {
			s.apiError(w, r, err)
			return
		}
		tok, sess, err := s.accounts.Login(req.Username, req.Password)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		s.logger.Info("set up", "team", info.Slug, "admin", req.Username)
		s.setSessionCookie(w, r, tok, sess)
		writeJSON(w, http.StatusOK, map[string]any{"team": info, "token": tok, "url": "/t/" + info.Slug + "/"})
	})
}

// setupValid reports whether tok is the waiting setup token.
func (a *Accounts) setupValid(tok string) bool {
	raw, err := a.tb.Get(bg, tableDeployment, "setup")
	return err == nil && raw != nil && tok != "" && len(tok) <= 128 && string(raw) == tokenHash(tok)
}

func slugError(slug string) error {
	if !ValidSlug(slug) {
		return ErrBadSlug
	}
	return nil
}

func nameError(name string) error {
	if !validUserName(name) {
		return ErrBadName
	}
	return nil
}

// Invitations.

func (s *Server) handleCreateInvite() http.Handler {
	type request struct {
		Role string `json:"role"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		role, err := roleName(req.Role)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		t := teamFrom(r).t
		tok, inv, err := s.accounts.NewInvite(t.slug, role, sessionOf(r).Name, InviteTTL)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"url": s.baseURL(r) + "/invite?token=" + tok, "token": tok, "role": role.String(), "expires": inv.Expires})
	})
}

func (s *Server) handleInvitation() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inv, err := s.accounts.Invitation(r.PathValue("token"))
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		info, err := s.accounts.Team(inv.Team)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"team": info.Name, "slug": info.Slug, "role": inv.Role.String(), "by": inv.By, "expires": inv.Expires})
	})
}

// handleAcceptInvite makes a new account and a member of the invitation's
// team, and logs it in. Someone who is logged in already and gives no user
// name joins with their own account.
func (s *Server) handleAcceptInvite() http.Handler {
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
		if !s.notGuessing(w, r) {
			return
		}
		tok := r.PathValue("token")
		inv, err := s.accounts.Invitation(tok)
		if err != nil {
			s.logins.failed(remoteHost(r), s.now())
			s.apiError(w, r, err)
			return
		}
		if req.Username == "" {
			sess, err := s.session(r)
			if err != nil || sess.insecure {
				writeError(w, http.StatusBadRequest, world.CodeBadRequest, "Choose a user name and a password.")
				return
			}
			if err := s.accounts.spendInvite(tok); err != nil {
				s.apiError(w, r, err)
				return
			}
			if _, err := s.AddMember(r.Context(), inv.Team, sess.Name, "", inv.Role); err != nil {
				s.apiError(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"team": inv.Team, "url": "/t/" + inv.Team + "/"})
			return
		}
		if _, err := s.accounts.Create(req.Username, req.Password, RoleMember); err != nil {
			s.apiError(w, r, err)
			return
		}
		if err := s.accounts.spendInvite(tok); err != nil {
			s.accounts.Remove(req.Username) // another request spent it first
			s.apiError(w, r, err)
			return
		}
		if _, err := s.AddMember(r.Context(), inv.Team, req.Username, "", inv.Role); err != nil {
			s.apiError(w, r, err)
			return
		}
		tok, sess, err := s.accounts.Login(req.Username, req.Password)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		s.setSessionCookie(w, r, tok, sess)
		writeJSON(w, http.StatusOK, map[string]any{"team": inv.Team, "url": "/t/" + inv.Team + "/", "token": tok})
	})
}

// A team's members.

type memberView struct {
	ID    world.ID  `json:"id"`
	Name  string    `json:"name"`
	Role  string    `json:"role"`
	Added time.Time `json:"added"`
}

func (s *Server) handleListMembers() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg, ok := pageOf(w, r)
		if !ok {
			return
		}
		list, err := s.accounts.Members(teamFrom(r).t.slug)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		// A team's members are bounded by the Members quota: the page is
		// cut from the whole list, which is sorted by name.
		list = pageSlice(w, r, pg, list, func(m Member) bool { return m.Name > pg.after }, func(m Member) string { return m.Name })
		out := make([]memberView, 0, len(list))
		for _, m := range list {
			out = append(out, memberView{ID: m.User, Name: m.Name, Role: m.Role.String(), Added: m.Added})
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// handleAddMember makes someone a member: a new account when a password
// comes with the name, else an account the deployment has already.
func (s *Server) handleAddMember() http.Handler {
	type request struct {
		Name     string `json:"name"`
		Password string `json:"password"`
		Role     string `json:"role"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		role, err := roleName(req.Role)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		t := teamFrom(r).t
		if err := nameError(req.Name); err != nil {
			s.apiError(w, r, err)
			return
		}
		if _, err := s.accounts.Get(req.Name); errors.Is(err, ErrNoSuchUser) && req.Password == "" {
			writeError(w, http.StatusNotFound, world.CodeNotFound, "There is no user "+req.Name+" yet: give a password to create them, or send an invitation.")
			return
		} else if err == nil && req.Password != "" {
			writeError(w, http.StatusConflict, world.CodeConflict, "The user name "+req.Name+" is taken: leave the password empty to add that user, or choose another name.")
			return
		}
		acc, err := s.AddMember(r.Context(), t.slug, req.Name, req.Password, role)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		s.logger.Info("member added", "team", t.slug, "user", acc.Name, "role", role, "by", sessionOf(r).Name)
		writeJSON(w, http.StatusOK, memberView{ID: acc.ID, Name: acc.Name, Role: role.String(), Added: s.now().UTC()})
	})
}

// member finds the team's member named in the path, answering 404 itself.
func (s *Server) member(w http.ResponseWriter, r *http.Request) (Account, Role, bool) {
	t := teamFrom(r).t
	name := r.PathValue("name")
	acc, err := s.accounts.Get(name)
	if errors.Is(err, ErrNoSuchUser) {
		writeError(w, http.StatusNotFound, world.CodeNotFound, name+" is not a member of this team.")
		return Account{}, 0, false
	} else if err != nil {
		s.apiError(w, r, err)
		return Account{}, 0, false
	}
	role, ok, err := s.accounts.Role(t.slug, acc.ID)
	if err != nil {
		s.apiError(w, r, err)
		return Account{}, 0, false
	}
	if !ok {
		writeError(w, http.StatusNotFound, world.CodeNotFound, name+" is not a member of this team.")
		return Account{}, 0, false
	}
	return acc, role, true
}

// lastAdmin answers 409 and returns true when taking admin away from acc
// would leave the team with none.
func (s *Server) lastAdmin(w http.ResponseWriter, r *http.Request, acc Account) bool {
	list, err := s.accounts.Members(teamFrom(r).t.slug)
	if err != nil {
		s.apiError(w, r, err)
		return true
	}
	for _, m := range list {
		if m.Role == RoleAdmin && m.User != acc.ID {
			return false
		}
	}
	writeError(w, http.StatusConflict, world.CodeConflict, acc.Name+" is the team's last admin: make another member an admin first.")
	return true
}

func (s *Server) handlePutMember() http.Handler {
	type request struct {
		Role string `json:"role"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		role, err := roleName(req.Role)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		acc, old, ok := s.member(w, r)
		if !ok {
			return
		}
		if old == RoleAdmin && role != RoleAdmin && s.lastAdmin(w, r, acc) {
			return
		}
		t := teamFrom(r).t
		if err := s.accounts.SetMember(t.slug, Member{User: acc.ID, Name: acc.Name, Role: role, Added: s.now().UTC()}); err != nil {
			s.apiError(w, r, err)
			return
		}
		s.closeMember(t, acc.ID) // its pages reconnect with the new role
		writeJSON(w, http.StatusOK, memberView{ID: acc.ID, Name: acc.Name, Role: role.String()})
	})
}

func (s *Server) handleRemoveMember() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acc, role, ok := s.member(w, r)
		if !ok {
			return
		}
		if role == RoleAdmin && s.lastAdmin(w, r, acc) {
			return
		}
		t := teamFrom(r).t
		if err := s.accounts.RemoveMember(t.slug, acc.ID); err != nil {
			s.apiError(w, r, err)
			return
		}
		s.closeMember(t, acc.ID)
		s.logger.Info("member removed", "team", t.slug, "user", acc.Name, "by", sessionOf(r).Name)
		w.WriteHeader(http.StatusNoContent)
	})
}

// mayManageAccount reports whether a team admin may change the account of
// one of the team's members: its password and sessions belong to the
// deployment, so only when the requester administers every team the
// account is in, and the account is no admin of the deployment (or the
// requester is one too).
func (s *Server) mayManageAccount(r *http.Request, acc Account) (bool, error) {
	sess := sessionOf(r)
	if sess.insecure || sess.operator {
		return true, nil
	}
	me, err := s.accounts.Get(sess.Name)
	if err != nil {
		return false, err
	}
	if me.Role == RoleAdmin {
		return true, nil
	}
	if acc.Role == RoleAdmin {
		return false, nil
	}
	teams, err := s.accounts.TeamsOf(acc.ID)
	if err != nil {
		return false, err
	}
	for slug := range teams {
		if role, ok, err := s.accounts.Role(slug, me.ID); err != nil || !ok || role != RoleAdmin {
			return false, err
		}
	}
	return true, nil
}

// manageable finds the member in the path and checks mayManageAccount,
// answering the request itself when not.
func (s *Server) manageable(w http.ResponseWriter, r *http.Request) (Account, bool) {
	acc, _, ok := s.member(w, r)
	if !ok {
		return Account{}, false
	}
	may, err := s.mayManageAccount(r, acc)
	if err != nil {
		s.apiError(w, r, err)
		return Account{}, false
	}
	if !may {
		writeError(w, http.StatusForbidden, world.CodeForbidden, acc.Name+" is also in teams you do not administer: ask an admin of this server.")
		return Account{}, false
	}
	return acc, true
}

func (s *Server) handleResetPassword() http.Handler {
	type request struct {
		Password string `json:"password"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		acc, ok := s.manageable(w, r)
		if !ok {
			return
		}
		if err := s.accounts.SetPassword(acc.Name, req.Password); err != nil {
			s.apiError(w, r, err)
			return
		}
		s.closeUser(acc.ID)
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) handleMemberSessions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acc, ok := s.manageable(w, r)
		if !ok {
			return
		}
		pg, ok := pageOf(w, r)
		if !ok {
			return
		}
		list, err := s.accounts.Sessions(acc.ID)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, sessionViews(pageSessions(w, r, pg, list), sessionOf(r).ID))
	})
}

func (s *Server) handleEndMemberSessions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acc, ok := s.manageable(w, r)
		if !ok {
			return
		}
		ids, err := s.accounts.RevokeUser(acc.ID)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		s.revoke(ids)
		writeJSON(w, http.StatusOK, map[string]int{"ended": len(ids)})
	})
}

// A team's services.

type serviceView struct {
	ID   world.ID `json:"id"`
	Name string   `json:"name"`
}

func (s *Server) handleListServices() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg, ok := pageOf(w, r)
		if !ok {
			return
		}
		out := []serviceView{}
		err := teamFrom(r).t.eng.Read(r.Context(), func(w *world.World) {
			for _, sv := range w.Services() {
				out = append(out, serviceView{ID: sv.ID, Name: sv.Name})
			}
		})
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		// Services are never deleted and keep their order, so a page
		// starts after the service its cursor names (bounded by the
		// Services quota).
		seen := false
		past := func(v serviceView) bool {
			if seen {
				return true
			}
			seen = v.ID.String() == pg.after
			return false
		}
		writeJSON(w, http.StatusOK, pageSlice(w, r, pg, out, past, func(v serviceView) string { return v.ID.String() }))
	})
}

func (s *Server) handleCreateService() http.Handler {
	type request struct {
		Name string `json:"name"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		m := teamFrom(r)
		id := engine.RandomID()
		if err := do(r.Context(), m.t, sessionOf(r), world.Command{Kind: world.CmdCreateService, Service: id, Text: strings.TrimSpace(req.Name)}); err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, serviceView{ID: id, Name: strings.TrimSpace(req.Name)})
	})
}

func (s *Server) handlePutService() http.Handler {
	type request struct {
		Name *string `json:"name"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := world.ParseID(r.PathValue("id"))
		if !ok {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, "A service is named by its id, a UUID.")
			return
		}
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		m := teamFrom(r)
		if req.Name != nil {
			if err := do(r.Context(), m.t, sessionOf(r), world.Command{Kind: world.CmdRenameService, Service: id, Text: strings.TrimSpace(*req.Name)}); err != nil {
				s.apiError(w, r, err)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// The deployment's teams and accounts.

func (s *Server) handleListTeams() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg, ok := pageOf(w, r)
		if !ok {
			return
		}
		list, err := s.accounts.TeamsPage(pg.after, pg.limit+1)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if len(list) > pg.limit {
			list = list[:pg.limit]
			pg.next(w, r, list[len(list)-1].Slug)
		}
		writeJSON(w, http.StatusOK, list)
	})
}

func (s *Server) handleCreateTeam() http.Handler {
	type request struct {
		Name string `json:"name"`
		Slug string `json:"slug"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		if req.Slug == "" {
			req.Slug = SlugFor(req.Name)
		}
		first := s.NeedsSetup()
		info, err := s.CreateTeam(r.Context(), req.Slug, req.Name)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if first {
			// The server is set up now (by txxt setup, say): the link it
			// printed at start must not claim it a second time.
			if err := s.accounts.dropSetup(); err != nil {
				s.apiError(w, r, err)
				return
			}
		}
		// Whoever creates a team administers it.
		if sess := sessionOf(r); !sess.insecure && !sess.operator {
			if _, err := s.AddMember(r.Context(), info.Slug, sess.Name, "", RoleAdmin); err != nil {
				s.apiError(w, r, err)
				return
			}
		}
		s.logger.Info("team created", "team", info.Slug, "by", sessionOf(r).Name)
		writeJSON(w, http.StatusOK, info)
	})
}

func (s *Server) handlePutTeam() http.Handler {
	type request struct {
		Name     *string `json:"name"`
		Archived *bool   `json:"archived"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		var name string
		if req.Name != nil {
			name = strings.TrimSpace(*req.Name)
			if err := validTeamName(name); err != nil {
				s.apiError(w, r, err)
				return
			}
		}
		info, err := s.accounts.ChangeTeam(r.PathValue("slug"), func(info *TeamInfo) error {
			if req.Name != nil {
				info.Name = name
			}
			if req.Archived != nil {
				info.Archived = *req.Archived
			}
			return nil
		})
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if t := s.teams.get(info.Slug); t != nil {
			t.archived.Store(info.Archived)
		}
		writeJSON(w, http.StatusOK, info)
	})
}

type accountView struct {
	ID      world.ID          `json:"id"`
	Name    string            `json:"name"`
	Admin   bool              `json:"admin"`
	Created time.Time         `json:"created"`
	Teams   map[string]string `json:"teams"`
}

func (s *Server) handleListAccounts() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg, ok := pageOf(w, r)
		if !ok {
			return
		}
		list, err := s.accounts.ListPage(pg.after, pg.limit+1)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if len(list) > pg.limit {
			list = list[:pg.limit]
			pg.next(w, r, list[len(list)-1].Name)
		}
		out := make([]accountView, 0, len(list))
		for _, a := range list {
			roles, err := s.accounts.TeamsOf(a.ID)
			if err != nil {
				s.apiError(w, r, err)
				return
			}
			v := accountView{ID: a.ID, Name: a.Name, Admin: a.Role == RoleAdmin, Created: a.Created, Teams: map[string]string{}}
			for slug, role := range roles {
				v.Teams[slug] = role.String()
			}
			out = append(out, v)
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func (s *Server) handleCreateAccount() http.Handler {
	type request struct {
		Name     string `json:"name"`
		Password string `json:"password"`
		Admin    bool   `json:"admin"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		role := RoleMember
		if req.Admin {
			role = RoleAdmin
		}
		acc, err := s.accounts.Create(req.Name, req.Password, role)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, accountView{ID: acc.ID, Name: acc.Name, Admin: req.Admin, Created: acc.Created, Teams: map[string]string{}})
	})
}

func (s *Server) handlePutAccount() http.Handler {
	type request struct {
		Password *string `json:"password"`
		Admin    *bool   `json:"admin"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !s.decodeJSON(w, r, &req) {
			return
		}
		acc, err := s.accounts.Get(r.PathValue("name"))
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if req.Admin != nil {
			role := RoleMember
			if *req.Admin {
				role = RoleAdmin
			}
			if err := s.accounts.SetRole(acc.Name, role); err != nil {
				s.apiError(w, r, err)
				return
			}
		}
		if req.Password != nil {
			if err := s.accounts.SetPassword(acc.Name, *req.Password); err != nil {
				s.apiError(w, r, err)
				return
			}
			s.closeUser(acc.ID)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) handleDeleteAccount() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acc, err := s.accounts.Get(r.PathValue("name"))
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if acc.ID == sessionOf(r).User {
			writeError(w, http.StatusConflict, world.CodeConflict, "You cannot remove your own account here.")
			return
		}
		if err := s.accounts.Remove(acc.Name); err != nil {
			s.apiError(w, r, err)
			return
		}
		s.closeUser(acc.ID)
		w.WriteHeader(http.StatusNoContent)
	})
}

// SetupLink makes a new one-time setup token and returns the link to the
// setup page for a server reached at base (e.g. "http://127.0.0.1:3000").
func (s *Server) SetupLink(base string) (string, error) {
	tok, err := s.accounts.SetupToken()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/setup?token=%s", strings.TrimSuffix(base, "/"), tok), nil
}

// NeedsSetup reports whether the server has no team yet.
func (s *Server) NeedsSetup() bool { return s.teams.len() == 0 }

type operatorKey struct{}

// OperatorHandler returns the server's routes for its local admin socket:
// every request on it is the operator's, an admin of the deployment and of
// every team. Whoever may open the socket (its file's permissions: the
// user the server runs as) runs the server anyway; the command-line tools
// go through it while the server runs.
func (s *Server) OperatorHandler() http.Handler {
	h := s.routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), operatorKey{}, true)))
	})
}

func (s *Server) handleSetupLink() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		link, err := s.SetupLink(s.baseURL(r))
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"url": link})
	})
}

// notGuessing answers 429 and returns false for an address that has
// failed too many logins, setup tokens or invitations lately: a token is
// 32 random bytes, but nobody gets to try many.
func (s *Server) notGuessing(w http.ResponseWriter, r *http.Request) bool {
	if wait := s.logins.allow(remoteHost(r), s.now()); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		writeError(w, http.StatusTooManyRequests, world.CodeRateLimited, "Too many failed attempts from your address: retry in "+wait.Round(time.Second).String()+".")
		return false
	}
	return true
}
