package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/server"
	"txxt/tables"
	"txxt/wire"
	"txxt/world"
	"txxt/worldlog"
)

// fixCluster is the placement of a one-node cluster that owns every
// team: what a clustered server asks of its Cluster, with nothing behind
// it (the switch of a team's engine is what the test drives).
type fixCluster struct{}

func (fixCluster) Node() string                                  { return "here" }
func (fixCluster) SetTeams([]string)                             {}
func (fixCluster) Owned() []string                               { return []string{"ops"} }
func (fixCluster) Nodes() []string                               { return []string{"here"} }
func (fixCluster) Owner(context.Context, string) (string, error) { return "here", nil }

// TestSwitchLeavesNoConnectionBehind connects game clients to a
// clustered server's team while the team's engine is switched (LeaveTeam
// of the old one, ServeTeam of the new, as when a node's follower becomes
// the owner), round after round: each client is refused, or closed with
// 1001 (it reconnects), or it plays on the new engine and sees its next
// event. None is left on the old engine, open and silent.
func TestSwitchLeavesNoConnectionBehind(t *testing.T) {
	accounts := tables.NewMemory()
	srv, err := server.NewClustered(server.Config{HashParams: fastHash, Version: "test"}, accounts, fixCluster{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.HTTPServer().Handler)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	if err := srv.RegisterTeam(server.TeamInfo{Slug: "ops", Name: "Ops", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	acc, err := srv.Accounts().Create("ann", "ann-pw", server.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Accounts().SetMember("ops", server.Member{User: acc.ID, Name: acc.Name, Role: server.RoleAdmin, Added: time.Now()}); err != nil {
		t.Fatal(err)
	}
	token, _, err := srv.Accounts().Login("ann", "ann-pw")
	if err != nil {
		t.Fatal(err)
	}
	teamTables := tables.NewMemory()
	open := func() *engine.Engine {
		eng, err := engine.Open(worldlog.NewMemory(), engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	eng := open()
	if err := srv.ServeTeam("ops", eng, teamTables); err != nil {
		t.Fatal(err)
	}
	const rounds, clients = 20, 8
	var refused, moved, played int
	for round := range rounds {
		type dialed struct {
			ws  *websocket.Conn
			err error
		}
		out := make(chan dialed, clients)
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/t/ops/api/game", &websocket.DialOptions{
					Subprotocols: []string{wire.Subprotocol},
					HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
				})
				if ws != nil {
					ws.SetReadLimit(-1)
				}
				out <- dialed{ws, err}
			})
		}
		// The switch, while the clients connect.
		next := open()
		srv.LeaveTeam("ops")
		if err := srv.ServeTeam("ops", next, teamTables); err != nil {
			t.Fatal(err)
		}
		eng = next
		wg.Wait()
		close(out)
		name := fmt.Sprintf("round %d", round)
		if res, err := eng.Do(t.Context(), engine.Request{Command: world.Command{Kind: world.CmdCreateService, Text: name}}); err != nil || res.Err != nil {
			t.Fatalf("%s: a command on the new engine: %v %v", name, err, res.Err)
		}
		for d := range out {
			if d.err != nil {
				refused++ // while the team was between engines: the client tries again
				continue
			}
			if fixPlaysOrMoves(t, d.ws, name) {
				played++
			} else {
				moved++
			}
			d.ws.CloseNow()
		}
	}
	t.Logf("%d clients connecting through %d switches: %d refused, %d closed with 1001, %d on the new engine", rounds*clients, rounds, refused, moved, played)
}

// fixPlaysOrMoves reads a game connection until the event of the service
// called name (it plays on the engine that made it) or a close with 1001
// (its engine was left), within 10 s, and reports which: true when it
// plays.
func fixPlaysOrMoves(t *testing.T, ws *websocket.Conn, name string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, raw, err := ws.Read(ctx)
		if websocket.CloseStatus(err) == websocket.StatusGoingAway {
			return false
		}
		if err != nil {
			t.Fatalf("%s: a client neither closed with 1001 nor given the new engine's event: %v", name, err)
		}
		f, err := wire.DecodeServerFrame(raw, true)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case f.Type == wire.TypeServiceCreated && f.Event.Service.Name == name:
			return true
		case f.Type == wire.TypeSnapshot:
			for _, s := range f.Snapshot.Services {
				if s.Name == name {
					return true
				}
			}
		}
	}
}
