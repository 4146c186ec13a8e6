package server_test

import (
	"net/http"
	"strings"
	"testing"

	"txxt/server"
)

// TestHostMustBeTheServers: DNS rebinding. A page at http://evil.example
// whose name now points at the server sends Host: evil.example and
// Origin: http://evil.example, which agree; under --insecure-no-auth it
// needs no cookie. Every request whose Host is not a name the server
// answers to is refused 421, before any handler runs.
func TestHostMustBeTheServers(t *testing.T) {
	h := start(t, options{cfg: server.Config{InsecureNoAuth: true, PublicURL: "https://cal.example.com",
		AllowedOrigins: []string{"http://other.example:8080"}}})
	_, port, _ := strings.Cut(h.hs.Listener.Addr().String(), ":")
	send := func(method, path, host string, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, h.hs.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		if path == "/api/game" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	requests := []struct{ method, path, body string }{
		{"GET", "/api/game", ""},
		{"GET", "/api/backup", ""},
		{"PUT", "/api/settings", `{"grid":30}`},
	}
	for _, host := range []string{"evil.example", "evil.example:" + port, "cal.example.com:" + port, "127.0.0.2:" + port} {
		for _, rq := range requests {
			if res := send(rq.method, rq.path, host, rq.body); res.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("%s %s with Host %s: %d, want 421", rq.method, rq.path, host, res.StatusCode)
			}
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "cal.example.com:443", "other.example:8080"} {
		for _, rq := range requests {
			res := send(rq.method, rq.path, host, rq.body)
			if res.StatusCode == http.StatusMisdirectedRequest || res.StatusCode >= 500 {
				t.Errorf("%s %s with Host %s: %d", rq.method, rq.path, host, res.StatusCode)
			}
		}
	}
	// A load balancer's probe names the address it probes.
	if res := send("GET", "/healthz", "10.1.2.3", ""); res.StatusCode != 200 {
		t.Errorf("/healthz with another Host: %d", res.StatusCode)
	}
}
