package jetstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"txxt/engine"
	"txxt/server"
	"txxt/store"
)

// node is one txxt server whose accounts are the deployment's tables in
// JetStream, reached through a NATS connection of its own; its teams'
// worlds are save files in a directory of its own.
type node struct {
	t   *testing.T
	srv *server.Server
	hs  *httptest.Server
	tb  *Tables
}

func startAccountsNode(t *testing.T, url string) *node {
	t.Helper()
	tb := openTables(t, connect(t, url), "ACCOUNTS")
	dir := t.TempDir()
	open := func(slug string) (*engine.Engine, *store.Store, error) {
		st, err := store.Open(store.TeamFile(dir, slug), store.Options{})
		if err != nil {
			return nil, nil, err
		}
		eng, err := engine.Open(st, engine.Options{})
		if err != nil {
			st.Close()
			return nil, nil, err
		}
		return eng, st, nil
	}
	if _, err := store.PrepareDir(dir, ""); err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewDeployment(server.Config{HashParams: server.HashParams{Time: 1, Memory: 64, Threads: 1}, Version: "test"}, tb, open, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	hs.Config = srv.HTTPServer()
	hs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return &node{t: t, srv: srv, hs: hs, tb: tb}
}

func (n *node) do(method, path, token string, body any) (int, []byte) {
	n.t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, n.hs.URL+path, bytes.NewReader(raw))
	if err != nil {
		n.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// The server's accounts on JetStream: a user made and logged in on node A
// holds a session that node B, reading the same tables through its own
// connection to NATS, takes; a logout on B ends it on A; and a name taken
// on one node is taken on the other.
func TestAccountsOnJetStream(t *testing.T) {
	url := startNATS(t).Conn().ConnectedUrl()
	a, b := startAccountsNode(t, url), startAccountsNode(t, url)
	ctx := context.Background()

	if _, err := a.srv.CreateTeam(ctx, "ops", "Ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.AddMember(ctx, "ops", "ann", "ann-password", server.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	status, body := a.do("POST", "/api/auth/login", "", map[string]string{"username": "ann", "password": "ann-password"})
	if status != 200 {
		t.Fatalf("log in on node A: %d %s", status, body)
	}
	var login struct{ Token string }
	if err := json.Unmarshal(body, &login); err != nil || login.Token == "" {
		t.Fatalf("login answer %s: %v", body, err)
	}

	// The session is in the tables as node B reads them: under the
	// token's hash, never the token.
	sum := sha256.Sum256([]byte(login.Token))
	raw, err := b.tb.Get(ctx, "sessions", hex.EncodeToString(sum[:]))
	if err != nil || raw == nil || bytes.Contains(raw, []byte(login.Token)) {
		t.Fatalf("the session read through node B's connection: %q, %v", raw, err)
	}
	sess, err := b.srv.Accounts().Session(login.Token)
	if err != nil || sess.Name != "ann" {
		t.Fatalf("node B's accounts: %+v, %v", sess, err)
	}
	status, body = b.do("GET", "/api/me", login.Token, nil)
	var me struct {
		Name  string `json:"name"`
		Teams []struct{ Slug, Role string }
	}
	json.Unmarshal(body, &me)
	if status != 200 || me.Name != "ann" || len(me.Teams) != 1 || me.Teams[0].Slug != "ops" || me.Teams[0].Role != "admin" {
		t.Fatalf("node B's /api/me with node A's login: %d %s", status, body)
	}

	// A logout on B ends the session on A.
	if status, body := b.do("POST", "/api/auth/logout", login.Token, nil); status/100 != 2 {
		t.Fatalf("log out on node B: %d %s", status, body)
	}
	if status, body := a.do("GET", "/api/me", login.Token, nil); status != 401 {
		t.Fatalf("node A after the logout on B: %d %s, want 401", status, body)
	}

	// One name, one account, whichever node makes it.
	if _, err := b.srv.Accounts().Create("ann", "another-password", server.RoleMember); err == nil {
		t.Fatal("node B made a second account called ann")
	}
	if _, err := b.srv.Accounts().Create("bob", "bob-password", server.RoleMember); err != nil {
		t.Fatal(err)
	}
	if acc, err := a.srv.Accounts().Get("bob"); err != nil || acc.Name != "bob" {
		t.Fatalf("node A reads bob: %+v, %v", acc, err)
	}
}
