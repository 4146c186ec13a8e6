package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"txxt/engine"
	"txxt/server"
	"txxt/wire"
	"txxt/world"
)

// refusedQuota checks an HTTP answer is 403 QUOTA_EXCEEDED whose message
// says the limit.
func refusedQuota(t *testing.T, what string, res *http.Response, body []byte, limit string) {
	t.Helper()
	if res.StatusCode != http.StatusForbidden || errorCode(body) != "QUOTA_EXCEEDED" || !strings.Contains(string(body), limit) {
		t.Fatalf("%s: %d %s, want 403 QUOTA_EXCEEDED saying %s", what, res.StatusCode, body, limit)
	}
}

func TestQuotas(t *testing.T) {
	h := start(t, options{cfg: server.Config{Quotas: server.Quotas{
		Tasks: 3, Services: 2, Views: 2, ViewBytes: 1024, Sessions: 3, Members: 3}}})

	t.Run("saved views per user: count", func(t *testing.T) {
		for _, name := range []string{"a", "b"} {
			if res, body := h.do("PUT", "/api/profiles/"+name, h.member, map[string]any{"view": "week"}); res.StatusCode != 200 {
				t.Fatalf("view %s: %d %s", name, res.StatusCode, body)
			}
		}
		res, body := h.do("PUT", "/api/profiles/c", h.member, map[string]any{"view": "week"})
		refusedQuota(t, "a third view", res, body, "2 saved views")
		// Changing one of the two is not a new one; another user has
		// views of their own.
		if res, body := h.do("PUT", "/api/profiles/a", h.member, map[string]any{"view": "month"}); res.StatusCode != 200 {
			t.Fatalf("changing a view: %d %s", res.StatusCode, body)
		}
		if res, body := h.do("PUT", "/api/profiles/c", h.admin, map[string]any{"view": "week"}); res.StatusCode != 200 {
			t.Fatalf("another user's view: %d %s", res.StatusCode, body)
		}
	})
	t.Run("saved views per user: size of one", func(t *testing.T) {
		ids := make([]string, 40) // 40 ids of 38 bytes: past 1 KiB
		for i := range ids {
			ids[i] = engine.RandomID().String()
		}
		res, body := h.do("PUT", "/api/profiles/a", h.member, map[string]any{"view": "week", "services": ids})
		refusedQuota(t, "a big view", res, body, "1 KiB")
	})
	t.Run("a page of saved views", func(t *testing.T) {
		res, body := h.do("GET", "/api/profiles?limit=1", h.member, nil)
		var list []server.Profile
		json.Unmarshal(body, &list)
		link := res.Header.Get("Link")
		if res.StatusCode != 200 || len(list) != 1 || list[0].Name != "a" || !strings.Contains(link, `rel="next"`) {
			t.Fatalf("first page: %d %s, Link %q", res.StatusCode, body, link)
		}
		next := regexp.MustCompile(`<([^>]+)>`).FindStringSubmatch(link)[1]
		res, body = h.do("GET", next, h.member, nil)
		list = nil
		json.Unmarshal(body, &list)
		if len(list) != 1 || list[0].Name != "b" || res.Header.Get("Link") != "" {
			t.Fatalf("second page %s: %s, Link %q", next, body, res.Header.Get("Link"))
		}
		if res, body := h.do("GET", "/api/profiles?limit=0", h.member, nil); res.StatusCode != 400 {
			t.Fatalf("limit=0: %d %s", res.StatusCode, body)
		}
	})
	t.Run("tasks per team, on the game connection", func(t *testing.T) {
		c := h.dial(true, "")
		c.handshake()
		svc := h.service("Backend")
		var first world.ID
		for i := range 3 {
			c.ack(uint32(i+1), newTask(svc, fmt.Sprint("task ", i)))
		}
		h.eng.Read(t.Context(), func(w *world.World) { first = w.Tasks()[0].ID })
		for i, cmd := range []world.Command{
			newTask(svc, "one too many"),
			{Kind: world.CmdCloneTask, Source: first, Slot: world.NoSlot},
		} {
			c.send(uint32(10+i), cmd)
			f, _ := c.answer(uint32(10 + i))
			if f.Type != wire.TypeError || f.Error.Code != world.CodeQuotaExceeded || !strings.Contains(f.Error.Message, "3 tasks") {
				t.Fatalf("%s past the quota: %+v", cmd.Kind, f)
			}
		}
		// Deleting one makes room.
		c.ack(20, world.Command{Kind: world.CmdDeleteTask, Task: first})
		c.ack(21, newTask(svc, "room again"))
	})
	t.Run("services per team", func(t *testing.T) {
		// Backend exists; one more fits.
		if res, body := h.do("POST", "/api/services", h.admin, map[string]string{"name": "Frontend"}); res.StatusCode/100 != 2 {
			t.Fatalf("second service: %d %s", res.StatusCode, body)
		}
		res, body := h.do("POST", "/api/services", h.admin, map[string]string{"name": "Design"})
		refusedQuota(t, "a third service", res, body, "2 services")
		res, body = h.do("GET", "/api/services?limit=1", h.admin, nil)
		if !strings.Contains(res.Header.Get("Link"), "after=") || strings.Count(string(body), `"id"`) != 1 {
			t.Fatalf("services page: %s, Link %q", body, res.Header.Get("Link"))
		}
	})
	t.Run("members per team", func(t *testing.T) {
		if _, err := h.srv.AddMember(t.Context(), server.MainTeam, "carol", "carol-pw", server.RoleMember); err != nil {
			t.Fatal(err)
		}
		res, body := h.do("POST", "/api/members", h.admin, map[string]string{"name": "dave", "password": "dave-pw"})
		refusedQuota(t, "a fourth member", res, body, "3 members")
		res, body = h.do("GET", "/api/members?limit=2", h.admin, nil)
		var list []struct{ Name string }
		json.Unmarshal(body, &list)
		if len(list) != 2 || list[0].Name != "ann" || list[1].Name != "bob" || !strings.Contains(res.Header.Get("Link"), "after=bob") {
			t.Fatalf("members page: %s, Link %q", body, res.Header.Get("Link"))
		}
		res, body = h.do("GET", "/api/members?limit=2&after=bob", h.admin, nil)
		list = nil
		json.Unmarshal(body, &list)
		if len(list) != 1 || list[0].Name != "carol" || res.Header.Get("Link") != "" {
			t.Fatalf("members' last page: %s, Link %q", body, res.Header.Get("Link"))
		}
	})
	t.Run("sessions per user: a login past it ends the oldest", func(t *testing.T) {
		// bob has one session (h.member); three more logins end it.
		var toks []string
		for range 3 {
			toks = append(toks, h.login("bob", "bob-pw"))
		}
		if res, _ := h.do("GET", "/api/me", h.member, nil); res.StatusCode != 401 {
			t.Fatalf("the oldest session still works: %d", res.StatusCode)
		}
		for _, tok := range toks {
			if res, body := h.do("GET", "/api/me", tok, nil); res.StatusCode != 200 {
				t.Fatalf("a newer session: %d %s", res.StatusCode, body)
			}
		}
		res, body := h.do("GET", "/api/me/sessions?limit=2", toks[2], nil)
		if res.StatusCode != 200 || strings.Count(string(body), `"id"`) != 2 || !strings.Contains(res.Header.Get("Link"), "after=") {
			t.Fatalf("sessions page: %d %s, Link %q", res.StatusCode, body, res.Header.Get("Link"))
		}
		next := regexp.MustCompile(`<([^>]+)>`).FindStringSubmatch(res.Header.Get("Link"))[1]
		res, body = h.do("GET", next, toks[2], nil)
		if strings.Count(string(body), `"id"`) != 1 || res.Header.Get("Link") != "" {
			t.Fatalf("sessions' last page: %s", body)
		}
		h.member = toks[2]
	})
}

// TestDeploymentListsArePaged: teams and accounts come a page at a time.
func TestDeploymentListsArePaged(t *testing.T) {
	d := startDeployment(t, "alpha", "beta", "gamma")
	root := d.tokens["root"]
	var slugs []string
	path := "/api/teams?limit=2"
	for path != "" {
		res, body := d.do("GET", path, root, nil)
		var list []server.TeamInfo
		if err := json.Unmarshal(body, &list); err != nil || len(list) > 2 {
			t.Fatalf("%s: %d %s", path, res.StatusCode, body)
		}
		for _, ti := range list {
			slugs = append(slugs, ti.Slug)
		}
		path = ""
		if m := regexp.MustCompile(`<([^>]+)>`).FindStringSubmatch(res.Header.Get("Link")); m != nil {
			path = m[1]
		}
	}
	if strings.Join(slugs, ",") != "alpha,beta,gamma" {
		t.Fatalf("teams over pages: %v", slugs)
	}
	res, body := d.do("GET", "/api/accounts?limit=3", root, nil)
	if strings.Count(string(body), `"name"`) != 3 || !strings.Contains(res.Header.Get("Link"), "after=") {
		t.Fatalf("accounts page: %s, Link %q", body, res.Header.Get("Link"))
	}
}

// TestViewQuotaHoldsUnderRace saves many new views of one user at the
// same moment, one below the quota: exactly one of them is stored, the
// others are refused QUOTA_EXCEEDED (the count is read and written in the
// update that stores the view, so racing saves conflict and run again on
// the count the winner wrote). Deleting a view makes room for one more.
func TestViewQuotaHoldsUnderRace(t *testing.T) {
	const racers = 12
	h := start(t, options{cfg: server.Config{Quotas: server.Quotas{Views: 3}}})
	for _, name := range []string{"a", "b"} {
		if res, body := h.do("PUT", "/api/profiles/"+name, h.member, map[string]any{"view": "week"}); res.StatusCode != 200 {
			t.Fatalf("view %s: %d %s", name, res.StatusCode, body)
		}
	}
	type outcome struct {
		status int
		body   string
		err    error
	}
	out := make(chan outcome, racers)
	start := make(chan struct{})
	for i := range racers {
		go func() {
			<-start
			status, body, err := fixPutView(h.hs.URL, h.member, fmt.Sprintf("race-%d", i))
			out <- outcome{status, body, err}
		}()
	}
	close(start)
	stored, refused := 0, 0
	for range racers {
		o := <-out // each request ends within its own 30 s
		switch {
		case o.err != nil:
			t.Fatal(o.err)
		case o.status == http.StatusOK:
			stored++
		case o.status == http.StatusForbidden && errorCode([]byte(o.body)) == "QUOTA_EXCEEDED":
			refused++
		default:
			t.Fatalf("a racing save: %d %s", o.status, o.body)
		}
	}
	if stored != 1 || refused != racers-1 {
		t.Fatalf("%d racing saves at 2 of 3 views: %d stored, %d refused; want 1 and %d", racers, stored, refused, racers-1)
	}
	res, body := h.do("GET", "/api/profiles", h.member, nil)
	var list []server.Profile
	json.Unmarshal(body, &list)
	if res.StatusCode != 200 || len(list) != 3 {
		t.Fatalf("the user's views after the race: %d %s, want 3 views", res.StatusCode, body)
	}
	if res, body := h.do("DELETE", "/api/profiles/a", h.member, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete a view: %d %s", res.StatusCode, body)
	}
	if res, body := h.do("PUT", "/api/profiles/after-delete", h.member, map[string]any{"view": "week"}); res.StatusCode != 200 {
		t.Fatalf("a view after deleting one: %d %s", res.StatusCode, body)
	}
	res, body = h.do("PUT", "/api/profiles/one-too-many", h.member, map[string]any{"view": "week"})
	refusedQuota(t, "a fourth view", res, body, "3 saved views")
}

// fixPutView saves a week view called name with token's session, from any
// goroutine, within 30 s.
func fixPutView(base, token, name string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "PUT", base+"/api/profiles/"+name, strings.NewReader(`{"view":"week"}`))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("save view %s: %w", name, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, string(raw), err
}
