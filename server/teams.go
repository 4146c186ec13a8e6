package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"txxt/engine"
	"txxt/store"
	"txxt/tables"
	"txxt/world"
)

// A team is one world: its own engine, its own revisions, its own save
// file, its own tables (settings, saved views, calendar feeds) and its own
// game connections. Accounts belong to the deployment; a team has members,
// each with a role in it.
type team struct {
	slug string
	eng  *engine.Engine
	st   *store.Store  // the world's save file: its log, snapshots and history
	tb   tables.Tables // the team's tables: today the same save file
	hub  *hub
	// budgets is each user's command budget in this team (see budgets).
	budgets budgets
	// archived mirrors the teams table's flag, so that routing a request
	// reads no file.
	archived atomic.Bool
	// closeStore closes st when the team is closed (nil when the caller
	// owns the file: New's single save file).
	closeStore func() error
}

// TeamInfo is a team as the deployment's teams table stores it (key: the
// slug, which its paths carry: /t/{slug}/). The slug never changes; the
// name does.
type TeamInfo struct {
	Slug     string    `json:"slug"`
	Name     string    `json:"name"`
	Archived bool      `json:"archived"`
	Created  time.Time `json:"created"`
}

// TeamOpener opens a team's world: its save file and the engine on it. The
// server calls it at start for every team and when a team is created.
type TeamOpener func(slug string) (*engine.Engine, *store.Store, error)

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ErrBadSlug is the refusal of a team slug that cannot be a path segment.
var ErrBadSlug = errors.New("a team's short name is 1 to 32 lower-case letters, digits and '-', starting with a letter or digit")

// ValidSlug reports whether slug can name a team.
func ValidSlug(slug string) bool { return slugPattern.MatchString(slug) }

// SlugFor makes a slug from a team's name: "Ops Berlin" → "ops-berlin".
func SlugFor(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		default:
			dash = true
		}
		if b.Len() >= 32 {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 32 {
		s = strings.Trim(s[:32], "-")
	}
	if s == "" {
		s = "team"
	}
	return s
}

// teams is the server's open teams, by slug. The map changes when a team
// is created (and, on a cluster, when this node starts or stops serving
// one); each team's fields never change once it is in the map.
type teams struct {
	mu sync.RWMutex
	m  map[string]*team
	// elsewhere is, on a cluster, the deployment's teams this node does
	// not serve (another node owns them, or none yet), by slug, with
	// their archived flag.
	elsewhere map[string]bool
}

func (ts *teams) get(slug string) *team {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.m[slug]
}

func (ts *teams) put(t *team) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.m[t.slug] = t
	delete(ts.elsewhere, t.slug)
}

// away reports whether slug is a team of the deployment that this node
// does not serve (a cluster's team another node owns).
func (ts *teams) away(slug string) bool {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	_, ok := ts.elsewhere[slug]
	return ok
}

// all returns the open teams in slug order.
func (ts *teams) all() []*team {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	out := make([]*team, 0, len(ts.m))
	for _, t := range ts.m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].slug < out[j].slug })
	return out
}

// len counts the deployment's teams, those served elsewhere too.
func (ts *teams) len() int {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return len(ts.m) + len(ts.elsewhere)
}

// only returns the team of a deployment that has exactly one that is not
// archived, which answers the paths without /t/{team}.
func (s *Server) only() *team {
	// Every request without /t/{team} asks, a game connection's upgrade
	// too: no copy of the teams, no sort.
	s.teams.mu.RLock()
	defer s.teams.mu.RUnlock()
	var found *team
	for _, t := range s.teams.m {
		if t.archived.Load() {
			continue
		}
		if found != nil {
			return nil
		}
		found = t
	}
	for _, archived := range s.teams.elsewhere {
		if !archived && found != nil {
			return nil
		}
	}
	return found
}

// onlyAway returns the slug of a deployment's only team that is not
// archived when this node does not serve it ("" otherwise).
func (s *Server) onlyAway() string {
	s.teams.mu.RLock()
	defer s.teams.mu.RUnlock()
	found := ""
	for _, t := range s.teams.m {
		if !t.archived.Load() {
			return ""
		}
	}
	for slug, archived := range s.teams.elsewhere {
		if archived {
			continue
		}
		if found != "" {
			return ""
		}
		found = slug
	}
	return found
}

// teamOf returns the team a request names: /t/{team}/…, or for a path
// without it, the deployment's only team. It answers the request itself
// (404) when there is none.
func (s *Server) teamOf(w http.ResponseWriter, r *http.Request) *team {
	slug := r.PathValue("team")
	if slug == "" {
		if t := s.only(); t != nil {
			return t
		}
		if slug := s.onlyAway(); slug != "" {
			s.elsewhere(w, r, slug)
			return nil
		}
		if s.teams.len() == 0 {
			writeError(w, http.StatusNotFound, world.CodeNotFound, "This server has no team yet: open the setup link it printed when it started.")
		} else {
			writeError(w, http.StatusNotFound, world.CodeNotFound, "This server holds several teams: open /t/{team}"+r.URL.Path+" with your team's name.")
		}
		return nil
	}
	if t := s.teams.get(slug); t != nil {
		return t
	}
	if s.teams.away(slug) {
		s.elsewhere(w, r, slug)
		return nil
	}
	writeError(w, http.StatusNotFound, world.CodeNotFound, noTeam(slug))
	return nil
}

// CreateTeam registers a new team and opens its world. The slug must be
// free; name is what people see.
func (s *Server) CreateTeam(ctx context.Context, slug, name string) (TeamInfo, error) {
	if s.open == nil && s.cluster == nil {
		return TeamInfo{}, errors.New("this server holds one save file: it cannot hold another team")
	}
	name = strings.TrimSpace(name)
	if err := validTeamName(name); err != nil {
		return TeamInfo{}, err
	}
	if !ValidSlug(slug) {
		return TeamInfo{}, ErrBadSlug
	}
	if max := s.cfg.Quotas.Teams; max > 0 && s.teams.len() >= max {
		return TeamInfo{}, fmt.Errorf("%w: this server may hold %d teams", ErrQuota, max)
	}
	s.creating.Lock()
	defer s.creating.Unlock()
	if _, err := s.accounts.Team(slug); err == nil || s.teams.get(slug) != nil {
		return TeamInfo{}, fmt.Errorf("%w: a team called %s exists already", ErrTaken, slug)
	}
	info := TeamInfo{Slug: slug, Name: name, Created: s.now().UTC()}
	if s.cluster != nil {
		// The teams table is the cluster's list of worlds: the team's
		// node (maybe this one) takes its world once it is in it.
		if err := s.accounts.AddTeam(info); err != nil {
			return TeamInfo{}, err
		}
		if _, err := s.SyncTeams(); err != nil {
			return TeamInfo{}, err
		}
		s.waitServed(ctx, slug, 10*time.Second)
		return info, nil
	}
	eng, st, err := s.open(slug)
	if err != nil {
		return TeamInfo{}, fmt.Errorf("open team %s: %w", slug, err)
	}
	if err := s.accounts.AddTeam(info); err != nil {
		eng.Close()
		st.Close()
		return TeamInfo{}, err
	}
	s.addTeam(slug, eng, st, st.Close)
	return info, nil
}

// ErrBadTeamName refuses a team name.
var ErrBadTeamName = errors.New("a team's name is 1 to 64 bytes")

func validTeamName(name string) error {
	if name == "" || len(name) > world.MaxName {
		return ErrBadTeamName
	}
	return nil
}

// addTeam puts an opened team in service.
func (s *Server) addTeam(slug string, eng *engine.Engine, st *store.Store, closeStore func() error) *team {
	t := &team{slug: slug, eng: eng, st: st, tb: st, hub: newHub(s.limits.PresenceListed), closeStore: closeStore}
	if info, err := s.accounts.Team(slug); err == nil {
		t.archived.Store(info.Archived)
	}
	eng.OnBatch(s.metrics.batch)
	eng.SetQuotas(s.cfg.Quotas.engine())
	if err := t.migrateSettings(context.Background()); err != nil {
		s.logger.Warn("moving a team's settings into its world", "team", slug, "err", err)
	}
	s.teams.put(t)
	return t
}

// adopt makes the users of a save file of the time before data
// directories (one team, its users and sessions in the same file) the
// deployment's accounts and the team's members, with their roles. It is
// idempotent, so an adoption cut short by a crash finishes at the next
// start: the team is registered last. When the team's file is not the
// accounts file, its users and sessions tables are emptied after.
func (s *Server) adopt(slug, name string, st *store.Store) error {
	if _, err := s.accounts.Team(slug); err == nil {
		return nil
	} else if !errors.Is(err, ErrNoSuchTeam) {
		return err
	}
	old := NewAccounts(st, s.cfg.HashParams, s.cfg.SessionTTL, s.now)
	users, err := old.List()
	if err != nil {
		return fmt.Errorf("read the users of %s: %w", st.Path(), err)
	}
	same := tables.Tables(st) == s.accounts.tb
	for _, acc := range users {
		mine, err := s.accounts.Get(acc.Name)
		switch {
		case errors.Is(err, ErrNoSuchUser):
			if !same {
				if err := s.accounts.put(acc); err != nil {
					return err
				}
			}
			mine = acc
		case err != nil:
			return err
		case mine.ID != acc.ID:
			s.logger.Warn("adopting a team: an account of that name exists already with another id; the team's tasks keep their assignee's name, the account is not made a member",
				"team", slug, "user", acc.Name)
			continue
		}
		if err := s.accounts.SetMember(slug, Member{User: mine.ID, Name: mine.Name, Role: acc.Role, Added: s.now().UTC()}); err != nil {
			return err
		}
	}
	if !same {
		type row struct {
			k string
			v []byte
		}
		var rows []row
		err := tables.ForEach(bg, st, tableSessions, func(k string, v []byte) error {
			rows = append(rows, row{k, bytes.Clone(v)})
			return nil
		})
		users := map[world.ID]bool{}
		for _, r := range rows {
			if err == nil {
				err = s.accounts.tb.Put(bg, tableSessions, r.k, r.v)
			}
			var sess Session
			if json.Unmarshal(r.v, &sess) == nil {
				users[sess.User] = true
			}
		}
		// The sessions came in without their users' indexes: each such
		// index is made again from the sessions table at its next use,
		// so that revoking the user ends these too.
		for user := range users {
			if err == nil {
				err = s.accounts.tb.Delete(bg, tableUserSessions, user.String())
			}
		}
		if err != nil {
			return err
		}
	}
	info := TeamInfo{Slug: slug, Name: name, Created: s.now().UTC()}
	if err := s.accounts.PutTeam(info); err != nil {
		return err
	}
	if !same {
		// The accounts have moved: the team's file keeps no password
		// hash or session of its own. In updates of at most
		// tables.MaxKeys, each a page of what is left.
		for _, table := range []string{tableUsers, tableSessions} {
			for {
				var keys []string
				err := st.Range(bg, table, "", "", func(k string, _ []byte) bool {
					keys = append(keys, k)
					return len(keys) < tables.MaxKeys
				})
				if err != nil || len(keys) == 0 {
					if err != nil {
						return err
					}
					break
				}
				err = st.Update(bg, func(tx tables.Tx) error {
					for _, k := range keys {
						if err := tx.Delete(table, k); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// AddMember makes the account called name a member of the team with role,
// creating the account first when password is not empty and there is none
// (an existing account keeps its password). The team's world learns the
// user (so tasks can be assigned to them) before the membership is
// stored: if the world refuses, nobody became a member.
func (s *Server) AddMember(ctx context.Context, slug, name, password string, role Role) (Account, error) {
	t := s.teams.get(slug)
	if t == nil {
		if s.teams.away(slug) {
			return Account{}, ErrElsewhere
		}
		return Account{}, ErrNoSuchTeam
	}
	acc, err := s.accounts.Get(name)
	if errors.Is(err, ErrNoSuchUser) && password != "" {
		acc, err = s.accounts.Create(name, password, RoleMember)
	}
	if err != nil {
		return Account{}, err
	}
	if err := s.worldUser(ctx, t, acc); err != nil {
		return Account{}, err
	}
	if _, ok, err := s.accounts.Role(slug, acc.ID); err != nil {
		return Account{}, err
	} else if !ok {
		if err := s.checkQuota(s.cfg.Quotas.Members, func() (int, error) { m, err := s.accounts.Members(slug); return len(m), err }, "members in a team"); err != nil {
			return Account{}, err
		}
	}
	err = s.accounts.SetMember(slug, Member{User: acc.ID, Name: acc.Name, Role: role, Added: s.now().UTC()})
	return acc, err
}

// worldUser makes sure the team's world has the account as a user, with
// the account's id; a world user of that name without an account (an
// account removed earlier) keeps its tasks and takes the account's name
// back only if the ids match.
func (s *Server) worldUser(ctx context.Context, t *team, acc Account) error {
	var found bool
	if err := t.eng.Read(ctx, func(w *world.World) {
		for _, u := range w.Users() {
			if u.ID == acc.ID {
				found = true
			}
		}
	}); err != nil {
		return err
	}
	if found {
		return nil
	}
	res, err := t.eng.Do(ctx, engine.Request{Command: world.Command{Kind: world.CmdCreateUser, User: acc.ID, Text: acc.Name}})
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	return nil
}

// checkQuota refuses when count() has reached max (max ≤ 0: no limit).
func (s *Server) checkQuota(max int, count func() (int, error), what string) error {
	if max <= 0 {
		return nil
	}
	n, err := count()
	if err != nil {
		return err
	}
	if n >= max {
		return fmt.Errorf("%w: this server allows %d %s", ErrQuota, max, what)
	}
	return nil
}

// Quotas bound what the deployment holds; 0 means the default, negative
// no limit. The defaults are far past what a real team meets; each says
// why it is what it is.
type Quotas struct {
	Teams    int // teams in the deployment (default 1,000)
	Members  int // members of one team (default 1,000)
	Services int // services of one team, archived ones too (default 1,000)
	// Tasks of one team, of every status (default 100,000: twenty people
	// planning eight tasks a working day each for two and a half years;
	// its snapshot is about 18 MB).
	Tasks int
	Views int // saved views of one user in one team (default 50)
	// ViewBytes bounds one saved view as stored (default 8 KiB: a view
	// that selects about 200 of the team's services and people).
	ViewBytes int
	// Sessions of one user (default 100): a login past it ends the
	// user's oldest session (see Accounts.Login).
	Sessions int
}

func (q *Quotas) fill() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&q.Teams, 1000)
	def(&q.Members, 1000)
	def(&q.Services, 1000)
	def(&q.Tasks, 100_000)
	def(&q.Views, 50)
	def(&q.ViewBytes, 8<<10)
	def(&q.Sessions, 100)
}

// engineQuotas are the quotas a team's engine enforces (0: no limit).
func (q Quotas) engine() engine.Quotas {
	return engine.Quotas{Tasks: max(q.Tasks, 0), Services: max(q.Services, 0)}
}
