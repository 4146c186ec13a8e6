package server

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"txxt/engine"
	"txxt/tables"
	"txxt/world"
)

// The deployment's tables (Accounts.tb: the accounts file, or tables
// several nodes share):
//
//	users:      name → Account (the deployment's role in Account.Role)
//	sessions:   hex SHA-256 of the token → Session
//	teams:      slug → TeamInfo
//	members:    slug "/" user id → Member
//	invites:    hex SHA-256 of the token → Invite
//	deployment: "setup" → hex SHA-256 of the one-time setup token

// Errors of the deployment's functions.
var (
	ErrNoSuchTeam = errors.New("no such team")
	ErrTaken      = errors.New("taken")
	ErrQuota      = errors.New("quota reached")
	ErrNoInvite   = errors.New("this invitation is not valid: it was used, it expired, or it was never made; ask your team's admin for a new one")
	ErrBadRole    = errors.New("a role is admin, member or viewer")
	ErrNoSetup    = errors.New("this setup link is not valid: the server was set up already, or the link is not the one it printed")
)

// Member is one user's membership of a team.
type Member struct {
	User  world.ID  `json:"user"`
	Name  string    `json:"name"`
	Role  Role      `json:"role"`
	Added time.Time `json:"added"`
}

func memberKey(slug string, user world.ID) string { return slug + "/" + user.String() }

// Team returns the team called slug.
func (a *Accounts) Team(slug string) (TeamInfo, error) {
	if tables.CheckKey(slug) != nil {
		return TeamInfo{}, ErrNoSuchTeam // no table holds such a key
	}
	raw, err := a.tb.Get(bg, tableTeams, slug)
	if err != nil {
		return TeamInfo{}, err
	}
	return teamOf(raw)
}

func teamOf(raw []byte) (TeamInfo, error) {
	if raw == nil {
		return TeamInfo{}, ErrNoSuchTeam
	}
	var t TeamInfo
	return t, json.Unmarshal(raw, &t)
}

// Teams returns every team by slug.
func (a *Accounts) Teams() ([]TeamInfo, error) {
	var out []TeamInfo
	err := tables.ForEach(bg, a.tb, tableTeams, func(_ string, raw []byte) error {
		var t TeamInfo
		if err := json.Unmarshal(raw, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

// TeamsPage returns at most n teams by slug, after the slug after.
func (a *Accounts) TeamsPage(after string, n int) ([]TeamInfo, error) {
	out := []TeamInfo{}
	var bad error
	err := a.tb.Range(bg, tableTeams, "", after, func(_ string, raw []byte) bool {
		var t TeamInfo
		if bad = json.Unmarshal(raw, &t); bad != nil {
			return false
		}
		out = append(out, t)
		return len(out) < n
	})
	return out, cmp.Or(err, bad)
}

// ListPage returns at most n accounts by name, after the name after.
func (a *Accounts) ListPage(after string, n int) ([]Account, error) {
	var out []Account
	var bad error
	err := a.tb.Range(bg, tableUsers, "", after, func(_ string, raw []byte) bool {
		var acc Account
		if bad = json.Unmarshal(raw, &acc); bad != nil {
			return false
		}
		out = append(out, acc)
		return len(out) < n
	})
	return out, cmp.Or(err, bad)
}

// PutTeam stores a team, whatever was stored under its slug.
func (a *Accounts) PutTeam(t TeamInfo) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return a.tb.Put(bg, tableTeams, t.Slug, raw)
}

// AddTeam stores a new team; ErrTaken when its slug is stored already
// (by this node or another).
func (a *Accounts) AddTeam(t TeamInfo) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return tables.Do(bg, a.tb, func(tx tables.Tx) error {
		if old, err := tx.Get(tableTeams, t.Slug); err != nil {
			return err
		} else if old != nil {
			return fmt.Errorf("%w: a team called %s exists already", ErrTaken, t.Slug)
		}
		return tx.Put(tableTeams, t.Slug, raw)
	})
}

// ChangeTeam runs fn on the team stored under slug and stores what it
// made of it, as one compare-and-set: a change another node made
// meanwhile is read again and fn runs on it.
func (a *Accounts) ChangeTeam(slug string, fn func(*TeamInfo) error) (TeamInfo, error) {
	var t TeamInfo
	err := tables.Do(bg, a.tb, func(tx tables.Tx) error {
		raw, err := tx.Get(tableTeams, slug)
		if err != nil {
			return err
		}
		if t, err = teamOf(raw); err != nil {
			return err
		}
		if err := fn(&t); err != nil {
			return err
		}
		if raw, err = json.Marshal(t); err != nil {
			return err
		}
		return tx.Put(tableTeams, slug, raw)
	})
	return t, err
}

// Role returns the user's role in the team, and whether they are a member.
func (a *Accounts) Role(slug string, user world.ID) (Role, bool, error) {
	key := memberKey(slug, user)
	raw, err := a.tb.Get(bg, tableMembers, key)
	if err != nil || raw == nil {
		return 0, false, err
	}
	m, err := a.memberMemo.decode(key, raw)
	if err != nil {
		return 0, false, err
	}
	return m.Role, true, nil
}

// Members returns the team's members by name.
func (a *Accounts) Members(slug string) ([]Member, error) {
	var out []Member
	var bad error
	err := a.tb.Range(bg, tableMembers, slug+"/", "", func(k string, raw []byte) bool {
		var m Member
		if bad = json.Unmarshal(raw, &m); bad != nil {
			return false
		}
		out = append(out, m)
		return true
	})
	err = cmp.Or(err, bad)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// TeamsOf returns the slugs of the teams the user is a member of, with
// the role in each.
func (a *Accounts) TeamsOf(user world.ID) (map[string]Role, error) {
	out := map[string]Role{}
	suffix := "/" + user.String()
	err := tables.ForEach(bg, a.tb, tableMembers, func(k string, raw []byte) error {
		if !strings.HasSuffix(k, suffix) {
			return nil
		}
		var m Member
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		out[strings.TrimSuffix(k, suffix)] = m.Role
		return nil
	})
	return out, err
}

// SetMember stores a membership (new, or a changed role).
func (a *Accounts) SetMember(slug string, m Member) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return a.tb.Put(bg, tableMembers, memberKey(slug, m.User), raw)
}

// RemoveMember ends a membership. The account stays (it may be in other
// teams), and so does the team's world user, so tasks keep their assignee.
func (a *Accounts) RemoveMember(slug string, user world.ID) error {
	return a.tb.Delete(bg, tableMembers, memberKey(slug, user))
}

// Create makes an account of the deployment, in no team yet.
func (a *Accounts) Create(name, password string, role Role) (Account, error) {
	if !validUserName(name) {
		return Account{}, ErrBadName
	}
	if err := validPassword(password); err != nil {
		return Account{}, err
	}
	if _, err := a.Get(name); err == nil {
		return Account{}, ErrUserExists
	} else if !errors.Is(err, ErrNoSuchUser) {
		return Account{}, err
	}
	hash, err := HashPassword(password, a.params)
	if err != nil {
		return Account{}, err
	}
	acc := Account{ID: engine.RandomID(), Name: name, Role: role, Hash: hash, Created: a.now().UTC()}
	raw, err := json.Marshal(acc)
	if err != nil {
		return Account{}, err
	}
	// The name may have been taken while the password was hashed, here
	// or on another node: the account is made only where there is none.
	return acc, tables.Do(bg, a.tb, func(tx tables.Tx) error {
		if old, err := tx.Get(tableUsers, name); err != nil {
			return err
		} else if old != nil {
			return ErrUserExists
		}
		return tx.Put(tableUsers, name, raw)
	})
}

func validPassword(pw string) error {
	if utf8.RuneCountInString(pw) < 4 {
		return ErrWeakPassword
	}
	if len(pw) > 1024 {
		return errors.New("a password is at most 1,024 bytes")
	}
	return nil
}

// SetRole changes an account's role in the deployment.
func (a *Accounts) SetRole(name string, role Role) error {
	_, err := a.change(name, func(acc *Account) error { acc.Role = role; return nil })
	return err
}

// Sessions returns the user's live sessions, newest first: one read of
// the user's index (see tableUserSessions), or, for a user never indexed,
// a scan of the sessions table.
func (a *Accounts) Sessions(user world.ID) ([]Session, error) {
	var list []Session
	raw, err := a.tb.Get(bg, tableUserSessions, user.String())
	if err != nil {
		return nil, err
	}
	if raw == nil || json.Unmarshal(raw, &list) != nil {
		if list, err = a.scanSessions(user); err != nil {
			return nil, err
		}
	}
	now := a.now()
	out := make([]Session, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- { // the index is oldest first
		if now.Before(list[i].Expires) {
			out = append(out, list[i])
		}
	}
	return out, nil
}

// EndSession ends one of the user's live sessions by its public id.
func (a *Accounts) EndSession(user, id world.ID) error {
	now := a.now()
	ended, err := a.endSessions(user, func(s Session) bool { return s.ID == id && now.Before(s.Expires) })
	if err == nil && len(ended) == 0 {
		return ErrNoSession
	}
	return err
}

// Invite is a one-time link to join a team with a role. The invites table
// stores it under the SHA-256 of its token.
type Invite struct {
	Team    string    `json:"team"`
	Role    Role      `json:"role"`
	By      string    `json:"by"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

func newToken() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// NewInvite makes an invitation to the team, valid for ttl.
func (a *Accounts) NewInvite(slug string, role Role, by string, ttl time.Duration) (string, Invite, error) {
	tok, err := newToken()
	if err != nil {
		return "", Invite{}, err
	}
	now := a.now().UTC()
	inv := Invite{Team: slug, Role: role, By: by, Created: now, Expires: now.Add(ttl)}
	raw, _ := json.Marshal(inv)
	return tok, inv, a.tb.Put(bg, tableInvites, tokenHash(tok), raw)
}

// Invitation returns the live invitation of a token.
func (a *Accounts) Invitation(tok string) (Invite, error) {
	if tok == "" || len(tok) > 128 {
		return Invite{}, ErrNoInvite
	}
	raw, err := a.tb.Get(bg, tableInvites, tokenHash(tok))
	if err != nil {
		return Invite{}, err
	}
	var inv Invite
	if raw == nil || json.Unmarshal(raw, &inv) != nil || !a.now().Before(inv.Expires) {
		return Invite{}, ErrNoInvite
	}
	return inv, nil
}

// spendInvite deletes an invitation; it reports ErrNoInvite when another
// request spent it first.
func (a *Accounts) spendInvite(tok string) error {
	return tables.Do(bg, a.tb, func(tx tables.Tx) error {
		k := tokenHash(tok)
		if v, err := tx.Get(tableInvites, k); err != nil {
			return err
		} else if v == nil {
			return ErrNoInvite
		}
		return tx.Delete(tableInvites, k)
	})
}

// SetupToken makes a new one-time setup token, replacing any earlier one.
func (a *Accounts) SetupToken() (string, error) {
	tok, err := newToken()
	if err != nil {
		return "", err
	}
	return tok, a.tb.Put(bg, tableDeployment, "setup", []byte(tokenHash(tok)))
}

// HasSetupToken reports whether a setup token is waiting to be used.
func (a *Accounts) HasSetupToken() bool {
	raw, err := a.tb.Get(bg, tableDeployment, "setup")
	return err == nil && raw != nil
}

// dropSetup deletes the waiting setup token, if any.
func (a *Accounts) dropSetup() error {
	return a.tb.Delete(bg, tableDeployment, "setup")
}

// spendSetup checks a setup token and deletes it, in one transaction, so
// two requests with the same token cannot both set the server up.
func (a *Accounts) spendSetup(tok string) error {
	if tok == "" || len(tok) > 128 {
		return ErrNoSetup
	}
	return tables.Do(bg, a.tb, func(tx tables.Tx) error {
		want, err := tx.Get(tableDeployment, "setup")
		if err != nil {
			return err
		}
		if want == nil || string(want) != tokenHash(tok) {
			return ErrNoSetup
		}
		return tx.Delete(tableDeployment, "setup")
	})
}

// roleName parses a role's name.
func roleName(s string) (Role, error) {
	switch s {
	case "admin":
		return RoleAdmin, nil
	case "member", "":
		return RoleMember, nil
	case "viewer":
		return RoleViewer, nil
	}
	return 0, fmt.Errorf("%w, not %q", ErrBadRole, s)
}
