package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"txxt/engine"
	"txxt/world"
)

// Demo logins and team, created by serve --demo: an admin (of the team
// and of the deployment) and a member, so that both roles can be tried.
// The passwords are published, so serve --demo on an address other than
// loopback makes new ones (Demo.AdminPassword, Demo.MemberPassword).
const (
	DemoTeam           = "demo"
	DemoUser           = "demo"
	DemoPassword       = "demo"
	DemoMember         = "member"
	DemoMemberPassword = "member"
)

var (
	demoServices = []string{"Frontend", "Backend", "Design", "Operations", "Support"}
	demoPeople   = []string{"alice", "bob", "carol", "dave"}
	demoVerbs    = []string{"Review", "Fix", "Write", "Plan", "Test", "Deploy", "Refactor", "Document", "Design", "Triage"}
	demoThings   = []string{"login page", "invoice export", "search index", "release notes", "on-call handover",
		"database backup", "onboarding flow", "API rate limits", "dashboard", "mobile layout", "billing webhook",
		"sprint board", "customer ticket", "load test", "style guide"}
)

// Demo says how much SeedDemo makes.
type Demo struct {
	Tasks int    // how many tasks
	Weeks int    // over how many weeks around now's (1: this week only; 0 means 3)
	Seed  uint64 // the same seed gives the same world
	// The logins' passwords; empty: DemoPassword and DemoMemberPassword.
	AdminPassword, MemberPassword string
}

// SeedDemo fills a new team's world for a demonstration: a few services,
// the account DemoUser (password DemoPassword, an admin of the team and of
// the deployment), the account DemoMember (password DemoMemberPassword, a
// member of the team), a few more people, and
// d.Tasks tasks on the weekdays of d.Weeks weeks centred on now's (by
// default the week before, the week of and the week after), some staged,
// the past ones mostly completed and a few of today's started.
func (s *Server) SeedDemo(ctx context.Context, slug string, now time.Time, d Demo) error {
	tasks, weeks, seed := d.Tasks, cmp.Or(d.Weeks, 3), d.Seed
	t := s.teams.get(slug)
	if t == nil {
		return ErrNoSuchTeam
	}
	eng := t.eng
	if _, err := s.AddMember(ctx, slug, DemoUser, cmp.Or(d.AdminPassword, DemoPassword), RoleAdmin); err != nil {
		return fmt.Errorf("demo account: %w", err)
	}
	if _, err := s.AddMember(ctx, slug, DemoMember, cmp.Or(d.MemberPassword, DemoMemberPassword), RoleMember); err != nil {
		return fmt.Errorf("demo account: %w", err)
	}
	if err := s.accounts.SetRole(DemoUser, RoleAdmin); err != nil {
		return fmt.Errorf("demo account: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	do := func(c world.Command) error {
		res, err := eng.Do(ctx, engine.Request{Command: c})
		if err == nil && res.Err != nil {
			err = res.Err
		}
		return err
	}
	var services, people []world.ID
	for _, name := range demoServices {
		id := engine.RandomID()
		if err := do(world.Command{Kind: world.CmdCreateService, Service: id, Text: name}); err != nil {
			return fmt.Errorf("demo service %s: %w", name, err)
		}
		services = append(services, id)
	}
	if err := eng.Read(ctx, func(w *world.World) {
		for _, u := range w.Users() {
			people = append(people, u.ID)
		}
	}); err != nil {
		return err
	}
	for _, name := range demoPeople {
		id := engine.RandomID()
		if err := do(world.Command{Kind: world.CmdCreateUser, User: id, Text: name}); err != nil {
			return fmt.Errorf("demo user %s: %w", name, err)
		}
		people = append(people, id)
	}

	today := uint16(now.Unix() / 86400)
	monday := today - uint16((now.Weekday()+6)%7) // days since 1970-01-01 of this week's Monday
	type plan struct {
		cmd  world.Command
		then world.CommandKind // 0, CmdCompleteTask or CmdStartTask
	}
	plans := make([]plan, tasks)
	for i := range plans {
		c := world.Command{
			Kind:     world.CmdCreateTask,
			Task:     engine.RandomID(),
			Service:  services[rng.IntN(len(services))],
			Priority: world.Priority(rng.IntN(4)),
			Text:     demoVerbs[rng.IntN(len(demoVerbs))] + " " + demoThings[rng.IntN(len(demoThings))],
			Slot:     world.NoSlot,
		}
		if rng.IntN(4) > 0 {
			c.Assignee = people[rng.IntN(len(people))]
		}
		p := plan{cmd: c}
		if rng.IntN(10) > 0 { // a tenth stay staged
			day := monday - 7*uint16((weeks-1)/2) + 7*uint16(rng.IntN(weeks)) + uint16(rng.IntN(5))
			dur := uint16(30 * (1 + rng.IntN(6)))
			start := uint16(8*60 + 30*rng.IntN(2*(18-8)-int(dur)/30+1))
			p.cmd.Slot = world.Slot{Date: day, Start: start, Duration: dur}
			switch {
			case day < today && rng.IntN(5) > 0:
				p.then = world.CmdCompleteTask
			case day == today && rng.IntN(3) == 0:
				p.then = world.CmdStartTask
			}
		}
		plans[i] = p
	}
	// Submitted by many workers at once, the tasks share commits.
	var wg sync.WaitGroup
	errs := make([]error, len(plans))
	next := make(chan int)
	for range min(256, len(plans)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if errs[i] = do(plans[i].cmd); errs[i] == nil && plans[i].then != 0 {
					errs[i] = do(world.Command{Kind: plans[i].then, Task: plans[i].cmd.Task})
				}
			}
		}()
	}
	for i := range plans {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}
