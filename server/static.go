package server

import (
	"net/http"

	"txxt/web"
)

func (s *Server) handleStatic() http.Handler {
	files := http.FileServerFS(web.Files)
	// Not "GET /": that pattern would conflict with the method-less
	// patterns routes registers for its 405 answers.
	other := methodNotAllowed([]string{"GET"})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			other.ServeHTTP(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
