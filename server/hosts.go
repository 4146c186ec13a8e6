package server

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"txxt/world"
)

// checkHost answers 421 for a request whose Host is not a name the
// server answers to, and passes the others to next. The names are the
// address the connection arrived at (the listen address in effect),
// localhost, 127.0.0.1 and [::1] (and 0.0.0.0 and [::], which serve
// prints when it listens on every interface) with that address's port,
// and the hosts of --origins and --public-url (with their ports).
//
// This is what stops DNS rebinding: a page at http://evil.example whose
// name the attacker then points at 127.0.0.1 talks to the server as
// "same origin" (its Origin and Host agree), cookies aside; with
// --insecure-no-auth it needs none. Its Host is still evil.example, which
// the server does not answer to. /healthz and /readyz answer any Host, for
// load balancers that probe by address.
func (s *Server) checkHost(next http.Handler) http.Handler {
	extra := map[string]bool{}
	for _, o := range append([]string{s.cfg.PublicURL}, s.cfg.AllowedOrigins...) {
		if u, err := url.Parse(strings.TrimSpace(o)); err == nil && u.Host != "" {
			extra[strings.ToLower(hostWithPort(u))] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || s.answersTo(r, extra) {
			next.ServeHTTP(w, r)
			return
		}
		writeError(w, http.StatusMisdirectedRequest, world.CodeBadRequest,
			"This server does not answer to the name "+boundedName(r.Host)+": open it at the address it was started on, or add that address to --public-url or --origins.")
	})
}

// hostWithPort is u's host with its port, the scheme's default when it
// has none.
func hostWithPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" || u.Scheme == "wss" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func (s *Server) answersTo(r *http.Request, extra map[string]bool) bool {
	host := strings.ToLower(r.Host)
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = strings.Trim(host, "[]"), "80"
		if r.TLS != nil {
			port = "443"
		}
	}
	if extra[net.JoinHostPort(name, port)] {
		return true
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lhost, lport, err := net.SplitHostPort(local.String())
	if err != nil || port != lport {
		return false
	}
	switch name {
	case "localhost", "127.0.0.1", "::1", strings.ToLower(lhost),
		"0.0.0.0", "::": // the address serve prints when it listens on every interface
		return true
	}
	return false
}

// boundedName is a name a client sent, cut for a log or a message: at
// most 64 bytes, quoted with its control bytes escaped, so that no
// request writes a line of its choosing or a megabyte of log.
func boundedName(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}
