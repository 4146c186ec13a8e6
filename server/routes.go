package server

import (
	"net/http"
	"strings"

	"txxt/world"
)

// routes lists every route of the server.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := map[string][]string{} // path → methods, for the 405 answers
	handle := func(method, path string, h http.Handler) {
		mux.Handle(method+" "+path, h)
		api[path] = append(api[path], method)
	}
	handle("GET", "/api/game", s.handleGame())
	handle("POST", "/api/auth/login", s.handleLogin())
	handle("POST", "/api/auth/logout", s.handleLogout())
	handle("GET", "/api/status", s.handleStatus())
	handle("GET", "/api/settings", s.authed(s.handleGetSettings()))
	handle("PUT", "/api/settings", s.authed(s.admin(s.handlePutSettings())))
	handle("GET", "/api/profiles", s.authed(s.handleListProfiles()))
	handle("PUT", "/api/profiles/{name}", s.authed(s.handlePutProfile()))
	handle("DELETE", "/api/profiles/{name}", s.authed(s.handleDeleteProfile()))
	handle("POST", "/api/profiles/{name}/activate", s.authed(s.handleActivateProfile()))
	handle("GET", "/api/backup", s.authed(s.admin(s.handleBackup())))
	handle("GET", "/healthz", s.handleHealthz())
	handle("GET", "/readyz", s.handleReadyz())
	handle("GET", "/metrics", s.handleMetrics())
	// Any other method on a known path is a JSON 405 (a pattern without a
	// method is less specific, so it only gets what the others leave).
	for path, methods := range api {
		mux.Handle(path, methodNotAllowed(methods))
	}
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, world.CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	}))
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
		writeError(w, http.StatusMethodNotAllowed, world.CodeMethodNotAllowed, r.Method+" "+r.URL.Path+" takes "+allow)
	})
}
