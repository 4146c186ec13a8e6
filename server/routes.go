package server

import (
	"net/http"
	"strings"

	"txxt/world"
)

// routes lists every route of the server.
//
// A team's routes are under /t/{team}/; a deployment with one team also
// answers each of them without that prefix, as the server did before it
// held teams, so the original client and existing scripts keep working.
// The deployment's own routes (login, the user's account, setup, teams and
// accounts, status) have no team.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := map[string][]string{} // path → methods, for the 405 answers
	handle := func(method, path string, h http.Handler) {
		mux.Handle(method+" "+path, h)
		api[path] = append(api[path], method)
	}
	teamRoute := func(method, path string, h http.Handler) {
		handle(method, path, h)
		handle(method, "/t/{team}"+path, h)
	}
	viewer := func(h http.Handler) http.Handler { return s.inTeam(RoleViewer, h) }
	admin := func(h http.Handler) http.Handler { return s.inTeam(RoleAdmin, h) }

	// The deployment.
	handle("POST", "/api/auth/login", s.handleLogin())
	handle("POST", "/api/auth/logout", s.handleLogout())
	handle("GET", "/api/me", s.authed(s.handleMe()))
	handle("PUT", "/api/me/password", s.authed(s.handleMyPassword()))
	handle("GET", "/api/me/sessions", s.authed(s.handleMySessions()))
	handle("DELETE", "/api/me/sessions/{id}", s.authed(s.handleEndMySession()))
	handle("GET", "/api/setup", s.handleSetupNeeded())
	handle("POST", "/api/setup", s.handleSetup())
	handle("POST", "/api/setup/link", s.deployAdmin(s.handleSetupLink()))
	handle("GET", "/api/invites/{token}", s.handleInvitation())
	handle("POST", "/api/invites/{token}/accept", s.handleAcceptInvite())
	handle("GET", "/api/teams", s.deployAdmin(s.handleListTeams()))
	handle("POST", "/api/teams", s.deployAdmin(s.handleCreateTeam()))
	handle("PUT", "/api/teams/{slug}", s.deployAdmin(s.handlePutTeam()))
	handle("GET", "/api/accounts", s.deployAdmin(s.handleListAccounts()))
	handle("POST", "/api/accounts", s.deployAdmin(s.handleCreateAccount()))
	handle("PUT", "/api/accounts/{name}", s.deployAdmin(s.handlePutAccount()))
	handle("DELETE", "/api/accounts/{name}", s.deployAdmin(s.handleDeleteAccount()))
	handle("GET", "/api/status", s.handleStatus())
	handle("GET", "/healthz", s.handleHealthz())
	handle("GET", "/readyz", s.handleReadyz())
	handle("GET", "/metrics", s.handleMetrics())

	// A team.
	teamRoute("GET", "/api/game", s.handleGame())
	handle("GET", "/t/{team}/api/status", viewer(s.handleStatus()))
	teamRoute("GET", "/api/settings", viewer(s.handleGetSettings()))
	teamRoute("PUT", "/api/settings", admin(s.handlePutSettings()))
	teamRoute("GET", "/api/profiles", viewer(s.handleListProfiles()))
	teamRoute("PUT", "/api/profiles/{name}", viewer(s.handlePutProfile()))
	teamRoute("DELETE", "/api/profiles/{name}", viewer(s.handleDeleteProfile()))
	teamRoute("POST", "/api/profiles/{name}/activate", viewer(s.handleActivateProfile()))
	teamRoute("GET", "/api/backup", admin(s.needsFile(s.handleBackup())))
	teamRoute("GET", "/api/members", viewer(s.handleListMembers()))
	teamRoute("POST", "/api/members", admin(s.handleAddMember()))
	teamRoute("PUT", "/api/members/{name}", admin(s.handlePutMember()))
	teamRoute("DELETE", "/api/members/{name}", admin(s.handleRemoveMember()))
	teamRoute("POST", "/api/members/{name}/password", admin(s.handleResetPassword()))
	teamRoute("GET", "/api/members/{name}/sessions", admin(s.handleMemberSessions()))
	teamRoute("DELETE", "/api/members/{name}/sessions", admin(s.handleEndMemberSessions()))
	teamRoute("POST", "/api/invites", admin(s.handleCreateInvite()))
	teamRoute("GET", "/api/services", viewer(s.handleListServices()))
	teamRoute("POST", "/api/services", admin(s.handleCreateService()))
	teamRoute("PUT", "/api/services/{id}", admin(s.handlePutService()))
	teamRoute("GET", "/api/reports/hours", viewer(s.handleHoursReport()))
	teamRoute("GET", "/api/tasks/{id}/history", viewer(s.handleTaskHistory()))
	teamRoute("GET", "/api/activity", viewer(s.handleActivity()))
	teamRoute("GET", "/api/past", viewer(s.handlePast()))
	teamRoute("GET", "/api/feeds", viewer(s.handleListFeeds()))
	teamRoute("POST", "/api/feeds", viewer(s.handleCreateFeed()))
	teamRoute("DELETE", "/api/feeds/{id}", viewer(s.handleDeleteFeed()))
	// A calendar feed: no session, the token in the path is the credential.
	handle("GET", "/feeds/{file}", s.handleFeed())

	// Any other method on a known path is a JSON 405 (a pattern without a
	// method is less specific, so it only gets what the others leave).
	for path, methods := range api {
		mux.Handle(path, methodNotAllowed(methods))
	}
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, world.CodeNotFound, "There is no such endpoint: "+r.Method+" "+r.URL.Path+".")
	})
	mux.Handle("/api/", notFound)
	mux.Handle("/t/{team}/api/", notFound)
	mux.Handle("/t/{team}/", s.handleStatic())
	mux.Handle("/", s.handleStatic())
	return mux
}

func methodNotAllowed(methods []string) http.Handler {
	if len(methods) > 0 && methods[0] == "GET" {
		methods = append(methods, "HEAD") // a GET pattern also takes HEAD
	}
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, world.CodeMethodNotAllowed, r.URL.Path+" does not take "+r.Method+": it takes "+allow+".")
	})
}
