package server

import (
	"io/fs"
	"net/http"
	"strings"

	"txxt/web"
	"txxt/world"
)

// handleStatic serves the client's files. The page is one: at / (a
// deployment with one team, or the team picker), at /t/{team}/, and at
// /setup and /invite, where the client reads the path. Under /t/{team}/
// the files are the same as at /, so the page's relative links work.
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
		path := r.URL.Path
		if slug := r.PathValue("team"); slug != "" {
			path = strings.TrimPrefix(path, "/t/"+slug)
			if path == "" {
				http.Redirect(w, r, "/t/"+slug+"/", http.StatusMovedPermanently)
				return
			}
		}
		if path == "/setup" || path == "/invite" {
			path = "/"
		}
		// Only the page at / is a directory's answer: any other
		// directory (/js/, /css/) would be listed by the file server.
		if path != "/" {
			if fi, err := fs.Stat(web.Files, strings.Trim(path, "/")); err == nil && fi.IsDir() {
				writeError(w, http.StatusNotFound, world.CodeNotFound, "no such file: "+r.URL.Path)
				return
			}
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = path, ""
		r2.URL = &u
		files.ServeHTTP(w, r2)
	})
}
