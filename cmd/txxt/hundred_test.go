package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/lab"
	"txxt/server"
	"txxt/store"
	"txxt/wire"
)

var hundred = flag.Bool("teams.hundred", false, "measure 100 teams in one server (docs/BENCHMARKS.md)")

// TestHundredTeams is a measurement, not a test: 100 teams of 1,000 tasks
// in one data directory, each with 5 connected clients. It reports the
// memory per idle team (against a directory of one such team), the boot
// time of the whole directory, and the fan-out of one busy team while the
// 99 others' clients are connected and idle, against the same with them
// gone, alternately in one run (docs/BENCHMARKS.md).
//
//	go test -count=1 -run TestHundredTeams -teams.hundred -v -timeout 30m ./cmd/txxt/
func TestHundredTeams(t *testing.T) {
	if !*hundred {
		t.Skip("a measurement: run it with -teams.hundred")
	}
	const teams, tasks, clients, rounds = 100, 1000, 5, 3
	base := t.TempDir()
	many, one := filepath.Join(base, "many"), filepath.Join(base, "one")
	start := time.Now()
	seedTeams(t, many, teams, tasks)
	seedTeams(t, one, 1, tasks)
	t.Logf("seeded %d teams of %d tasks in %s", teams, tasks, time.Since(start).Round(time.Second))

	var boots, bootsOne, perTeam, perTeamFile, perTeamClients []float64
	var busyA, busyB []lab.Summary
	for round := 1; round <= rounds; round++ {
		// One team, idle.
		s1, log1 := spawnLogged(t, one)
		bootsOne = append(bootsOne, bootTime(t, log1))
		rss1 := rssKiB(t, s1.cmd.Process.Pid)
		s1.stop()

		s, log := spawnLogged(t, many)
		boots = append(boots, bootTime(t, log))
		rss := rssKiB(t, s.cmd.Process.Pid)
		perTeam = append(perTeam, float64(rss.anon-rss1.anon)/float64(teams-1))
		perTeamFile = append(perTeamFile, float64(rss.file-rss1.file)/float64(teams-1))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		login, err := lab.Login(ctx, s.url, server.DemoUser, server.DemoPassword)
		if err != nil {
			t.Fatal(err)
		}
		idle := connectIdle(t, ctx, s.url, login.Token, teams, clients)
		rssClients := rssKiB(t, s.cmd.Process.Pid)
		perTeamClients = append(perTeamClients, float64(rssClients.anon-rss1.anon)/float64(teams-1))

		// The busy team, with the others connected (A), then without (B).
		busy, err := lab.Login(ctx, s.url+"/t/"+teamSlug(0), server.DemoUser, server.DemoPassword)
		if err != nil {
			t.Fatal(err)
		}
		fan := func() lab.Summary {
			res, err := lab.Run(ctx, busy, lab.Config{Scenario: "fanout", Clients: 1, Readers: 100, Rate: 100, Duration: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return *res.Fanout
		}
		busyA = append(busyA, fan())
		idle.close()
		busyB = append(busyB, fan())
		cancel()
		s.stop()
		t.Logf("round %d: boot %.0f ms (one team %.0f ms); per idle team %.0f KiB anonymous + %.0f KiB of mapped file, with %d clients %.0f KiB anonymous; fan-out p50/p99 %.2f/%.2f ms with the others connected, %.2f/%.2f ms without",
			round, boots[len(boots)-1], bootsOne[len(bootsOne)-1], perTeam[len(perTeam)-1], perTeamFile[len(perTeamFile)-1], clients, perTeamClients[len(perTeamClients)-1],
			ms(busyA[len(busyA)-1].P50), ms(busyA[len(busyA)-1].P99), ms(busyB[len(busyB)-1].P50), ms(busyB[len(busyB)-1].P99))
	}
	ratios := func(get func(lab.Summary) float64) float64 {
		var r []float64
		for i := range busyA {
			r = append(r, get(busyA[i])/get(busyB[i]))
		}
		return median(r)
	}
	t.Logf("medians of %d rounds: boot of %d teams %.0f ms (one team %.0f ms); memory per idle team %.0f KiB anonymous + %.0f KiB of mapped file, with %d clients each %.0f KiB anonymous; busy team's fan-out with the others connected ÷ without: p50 %.2f×, p99 %.2f×",
		rounds, teams, median(boots), median(bootsOne), median(perTeam), median(perTeamFile), clients, median(perTeamClients),
		ratios(func(s lab.Summary) float64 { return s.P50 }), ratios(func(s lab.Summary) float64 { return s.P99 }))
}

func teamSlug(i int) string { return fmt.Sprintf("t%03d", i) }

// seedTeams makes a data directory of n teams, each a demo team of tasks
// tasks (SeedDemo), without fsync (only what the server boots matters).
func seedTeams(t *testing.T, dir string, n, tasks int) {
	t.Helper()
	if _, err := store.PrepareDir(dir, ""); err != nil {
		t.Fatal(err)
	}
	acc, err := store.Open(filepath.Join(dir, store.AccountsFile), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	open := func(slug string) (*engine.Engine, *store.Store, error) {
		st, err := store.Open(store.TeamFile(dir, slug), store.Options{NoSync: true})
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
	srv, err := server.NewDeployment(server.Config{Version: "bench", HashParams: server.HashParams{Time: 1, Memory: 64, Threads: 1}}, acc, open, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, n)
	sem := make(chan struct{}, 4)
	for i := range n {
		if _, err := srv.CreateTeam(ctx, teamSlug(i), "Team "+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = srv.SeedDemo(ctx, teamSlug(i), time.Now(), server.Demo{Tasks: tasks, Weeks: 3, Seed: uint64(i + 1)})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// spawnLogged starts the binary on dir and returns it with its log.
func spawnLogged(t *testing.T, dir string) (*spawned, *syncBuffer) {
	t.Helper()
	var log syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := spawnServerOn(ctx, dir, nil, &log)
	if err != nil {
		t.Fatalf("spawn: %v\n%s", err, log.String())
	}
	t.Cleanup(s.stop)
	return s, &log
}

var bootedLine = regexp.MustCompile(`msg=booted teams=\d+ took=(\S+)`)

func bootTime(t *testing.T, log *syncBuffer) float64 {
	t.Helper()
	m := bootedLine.FindStringSubmatch(log.String())
	if m == nil {
		t.Fatalf("no boot line in the log:\n%s", log.String())
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return float64(d) / float64(time.Millisecond)
}

// memKiB is a process's resident memory: anonymous (heap, stacks) and
// file-backed (the save files' memory maps, paged in as they are read).
type memKiB struct{ anon, file int64 }

func rssKiB(t *testing.T, pid int) memKiB {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var m memKiB
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		for key, v := range map[string]*int64{"RssAnon:": &m.anon, "RssFile:": &m.file} {
			if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
				*v, _ = strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			}
		}
	}
	return m
}

// idleClients are game connections that read and discard what comes
// (telemetry every few seconds) until closed.
type idleClients struct {
	conns []*websocket.Conn
	wg    sync.WaitGroup
}

func (c *idleClients) close() {
	for _, ws := range c.conns {
		ws.Close(websocket.StatusNormalClosure, "")
	}
	c.wg.Wait()
}

// connectIdle connects perTeam v1 clients to each team but the first.
func connectIdle(t *testing.T, ctx context.Context, url, token string, teams, perTeam int) *idleClients {
	t.Helper()
	c := &idleClients{}
	for i := 1; i < teams; i++ {
		for range perTeam {
			ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/t/"+teamSlug(i)+"/api/game",
				&websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}, HTTPHeader: map[string][]string{"Authorization": {"Bearer " + token}}})
			if err != nil {
				c.close()
				t.Fatalf("team %d: %v", i, err)
			}
			ws.SetReadLimit(64 << 20)
			c.conns = append(c.conns, ws)
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				for {
					if _, _, err := ws.Read(context.Background()); err != nil {
						return
					}
				}
			}()
		}
	}
	t.Cleanup(c.close)
	return c
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(us float64) float64 { return us / 1000 }
