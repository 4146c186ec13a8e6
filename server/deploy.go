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
	"txxt/store"
	"txxt/world"
)

// The deployment's tables, in its accounts file (store.Tables):
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
	raw, err := a.st.Table("teams").Get(slug)
	if err != nil {
		return TeamInfo{}, err
	}
	if raw == nil {
		return TeamInfo{}, ErrNoSuchTeam
	}
	var t TeamInfo
	return t, json.Unmarshal(raw, &t)
}

// Teams returns every team by slug.
func (a *Accounts) Teams() ([]TeamInfo, error) {
	var out []TeamInfo
	err := a.st.Table("teams").ForEach(func(_ string, raw []byte) error {
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
	err := a.st.Table("teams").Range("", after, func(_ string, raw []byte) bool {
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
	err := a.users.Range("", after, func(_ string, raw []byte) bool {
		var acc Account
		if bad = json.Unmarshal(raw, &acc); bad != nil {
			return false
		}
		out = append(out, acc)
		return len(out) < n
	})
	return out, cmp.Or(err, bad)
}

// PutTeam stores a team.
func (a *Accounts) PutTeam(t TeamInfo) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return a.st.Table("teams").Put(t.Slug, raw)
}

// Role returns the user's role in the team, and whether they are a member.
func (a *Accounts) Role(slug string, user world.ID) (Role, bool, error) {
	raw, err := a.st.Table("members").Get(memberKey(slug, user))
	if err != nil || raw == nil {
		return 0, false, err
	}
	var m Member
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, false, err
	}
	return m.Role, true, nil
}

// Members returns the team's members by name.
func (a *Accounts) Members(slug string) ([]Member, error) {
	var out []Member
	prefix := slug + "/"
	err := a.st.Table("members").ForEach(func(k string, raw []byte) error {
		if !strings.HasPrefix(k, prefix) {
			return nil
		}
		var m Member
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// TeamsOf returns the slugs of the teams the user is a member of, with
// the role in each.
func (a *Accounts) TeamsOf(user world.ID) (map[string]Role, error) {
	out := map[string]Role{}
	suffix := "/" + user.String()
	err := a.st.Table("members").ForEach(func(k string, raw []byte) error {
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
	return a.st.Table("members").Put(memberKey(slug, m.User), raw)
}

// RemoveMember ends a membership. The account stays (it may be in other
// teams), and so does the team's world user, so tasks keep their assignee.
func (a *Accounts) RemoveMember(slug string, user world.ID) error {
	return a.st.Table("members").Delete(memberKey(slug, user))
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
	return acc, a.put(acc)
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
	acc, err := a.Get(name)
	if err != nil {
		return err
	}
	acc.Role = role
	return a.put(acc)
}

// Sessions returns the user's live sessions, newest first.
func (a *Accounts) Sessions(user world.ID) ([]Session, error) {
	now := a.now()
	var out []Session
	err := a.sessions.ForEach(func(_ string, raw []byte) error {
		var s Session
		if json.Unmarshal(raw, &s) == nil && s.User == user && now.Before(s.Expires) {
			out = append(out, s)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}

// EndSession ends one of the user's sessions by its public id.
func (a *Accounts) EndSession(user, id world.ID) error {
	list, err := a.Sessions(user)
	if err != nil {
		return err
	}
	for _, s := range list {
		if s.ID == id {
			return a.sessions.Delete(s.Hash)
		}
	}
	return ErrNoSession
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
	return tok, inv, a.st.Table("invites").Put(tokenHash(tok), raw)
}

// Invitation returns the live invitation of a token.
func (a *Accounts) Invitation(tok string) (Invite, error) {
	if tok == "" || len(tok) > 128 {
		return Invite{}, ErrNoInvite
	}
	raw, err := a.st.Table("invites").Get(tokenHash(tok))
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
	return a.st.Tables(func(tx store.TableTx) error {
		k := tokenHash(tok)
		if tx.Get("invites", k) == nil {
			return ErrNoInvite
		}
		return tx.Delete("invites", k)
	})
}

// SetupToken makes a new one-time setup token, replacing any earlier one.
func (a *Accounts) SetupToken() (string, error) {
	tok, err := newToken()
	if err != nil {
		return "", err
	}
	return tok, a.st.Table("deployment").Put("setup", []byte(tokenHash(tok)))
}

// HasSetupToken reports whether a setup token is waiting to be used.
func (a *Accounts) HasSetupToken() bool {
	raw, err := a.st.Table("deployment").Get("setup")
	return err == nil && raw != nil
}

// dropSetup deletes the waiting setup token, if any.
func (a *Accounts) dropSetup() error {
	return a.st.Table("deployment").Delete("setup")
}

// spendSetup checks a setup token and deletes it, in one transaction, so
// two requests with the same token cannot both set the server up.
func (a *Accounts) spendSetup(tok string) error {
	if tok == "" || len(tok) > 128 {
		return ErrNoSetup
	}
	return a.st.Tables(func(tx store.TableTx) error {
		want := tx.Get("deployment", "setup")
		if want == nil || string(want) != tokenHash(tok) {
			return ErrNoSetup
		}
		return tx.Delete("deployment", "setup")
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
