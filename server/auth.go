package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"txxt/engine"
	"txxt/tables"
	"txxt/world"
)

// Role is what a user may do in a team: viewers see the calendar and
// change nothing, members work on it, admins also administer the team
// (members, services, settings). An account's own Role is its role in the
// deployment: an admin there also manages teams and accounts. The values
// are the Welcome frame's.
type Role uint8

const (
	RoleMember Role = 0
	RoleAdmin  Role = 1
	RoleViewer Role = 2
)

func (r Role) String() string {
	switch r {
	case RoleAdmin:
		return "admin"
	case RoleViewer:
		return "viewer"
	}
	return "member"
}

// Account is a user who can log in, as the users table stores it (key: the
// name). The same id names the user in the world, where tasks are assigned
// to it.
type Account struct {
	ID      world.ID  `json:"id"`
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Hash    string    `json:"hash"` // argon2id, PHC string format
	Created time.Time `json:"created"`
}

// Session is one login. The sessions table stores it under the SHA-256 of
// its token, so the file never holds a usable token.
type Session struct {
	ID      world.ID  `json:"id"` // public: shown in presence, never a credential
	User    world.ID  `json:"user"`
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Hash    string    `json:"hash"` // hex SHA-256 of the token, compared in constant time

	insecure bool // --insecure-no-auth: no login behind it
	operator bool // the local admin socket: whoever may open it runs the server
}

// HashParams are argon2id's cost parameters.
type HashParams struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultHashParams are RFC 9106's second recommended option (section 4),
// for machines that cannot spare 2 GiB per hash: 3 passes over 64 MiB, 4
// lanes. About 100 ms per login on a 2-core machine.
var DefaultHashParams = HashParams{Time: 3, Memory: 64 * 1024, Threads: 4}

const (
	saltLen = 16
	keyLen  = 32
)

// HashPassword returns an argon2id hash of password in the PHC string
// format, which carries its own parameters and salt.
func HashPassword(password string, p HashParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash, in constant time.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var p HashParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 || p.Memory > 1<<22 || p.Time > 64 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// Errors of the account functions.
var (
	ErrNoSuchUser    = errors.New("no such user")
	ErrUserExists    = errors.New("user exists already")
	ErrBadName       = errors.New("a user name is 1 to 64 bytes of UTF-8 without spaces or slashes")
	ErrWeakPassword  = errors.New("a password needs at least 4 characters")
	ErrBadLogin      = errors.New("wrong user name or password")
	ErrNoSession     = errors.New("no valid session")
	ErrSessionExpiry = errors.New("session expired")
)

// Accounts manages the deployment's users and sessions (and, in
// deploy.go, its teams, members, invitations and setup token) in its
// tables: the accounts file, or tables several nodes share. Its methods
// are safe for concurrent use, also by several nodes: every call is its
// own update, and a change that depends on what is stored is a
// compare-and-set (tables.Do). Its calls carry no context of their own: a
// backend across a network bounds each call itself.
type Accounts struct {
	tb     tables.Tables
	params HashParams
	ttl    time.Duration
	now    func() time.Time

	// MaxSessions bounds one user's sessions (0: no limit); OnEnded is
	// told the sessions a login ended for it, so that their connections
	// close. Both are set before the first call.
	MaxSessions int
	OnEnded     func([]world.ID)

	dummyOnce sync.Once
	dummy     string

	// The decoded records read at every game connection.
	sessionMemo recordMemo[Session]
	memberMemo  recordMemo[Member]
}

// recordMemo remembers how the records read most often decoded (a
// session's at every request and game connection, a membership's at every
// game connection), by key: a record read again with the same bytes
// decodes to the same value, so it is not decoded again (JSON was a tenth
// of the server's CPU while 5,000 readers connected). Only the decoding is
// remembered, never whether a record exists or what it holds: every call
// still reads the record from the tables, so a session ended or a
// membership changed, on this node or another, counts at once. It holds at
// most memoSize records, and starts again empty past that.
type recordMemo[T any] struct {
	mu sync.Mutex
	m  map[string]memoEntry[T]
}

type memoEntry[T any] struct {
	raw []byte // the record's bytes (the tables' copy, never changed)
	val T
}

const memoSize = 1024

// decode returns raw, the record at key, decoded.
func (m *recordMemo[T]) decode(key string, raw []byte) (T, error) {
	m.mu.Lock()
	e, ok := m.m[key]
	m.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.val, nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, err
	}
	m.mu.Lock()
	if m.m == nil || len(m.m) >= memoSize {
		m.m = make(map[string]memoEntry[T])
	}
	m.m[key] = memoEntry[T]{raw: raw, val: v}
	m.mu.Unlock()
	return v, nil
}

// NewAccounts returns the accounts kept in tb. ttl is how long a session
// lasts.
func NewAccounts(tb tables.Tables, params HashParams, ttl time.Duration, now func() time.Time) *Accounts {
	return &Accounts{tb: tb, params: params, ttl: ttl, now: now}
}

// bg is the context of the accounts' calls (see Accounts).
var bg = context.Background()

// The accounts' tables.
const (
	tableUsers      = "users"
	tableSessions   = "sessions"
	tableTeams      = "teams"
	tableMembers    = "members"
	tableInvites    = "invites"
	tableDeployment = "deployment"
)

func validUserName(name string) bool {
	return name != "" && len(name) <= world.MaxName && utf8.ValidString(name) &&
		!strings.ContainsAny(name, " \t\r\n/\x00")
}

// Get returns the account called name.
func (a *Accounts) Get(name string) (Account, error) {
	if tables.CheckKey(name) != nil {
		return Account{}, ErrNoSuchUser // no table holds such a key
	}
	raw, err := a.tb.Get(bg, tableUsers, name)
	if err != nil {
		return Account{}, err
	}
	return accountOf(name, raw)
}

func accountOf(name string, raw []byte) (Account, error) {
	if raw == nil {
		return Account{}, ErrNoSuchUser
	}
	var acc Account
	if err := json.Unmarshal(raw, &acc); err != nil {
		return Account{}, fmt.Errorf("user %s: %w", name, err)
	}
	return acc, nil
}

// change runs fn on the account called name and stores what it made of
// it, as one compare-and-set: a change another node made meanwhile is
// read again and fn runs on it, never overwritten.
func (a *Accounts) change(name string, fn func(*Account) error) (Account, error) {
	var acc Account
	err := tables.Do(bg, a.tb, func(tx tables.Tx) error {
		raw, err := tx.Get(tableUsers, name)
		if err != nil {
			return err
		}
		if acc, err = accountOf(name, raw); err != nil {
			return err
		}
		if err := fn(&acc); err != nil {
			return err
		}
		raw, err = json.Marshal(acc)
		if err != nil {
			return err
		}
		return tx.Put(tableUsers, name, raw)
	})
	return acc, err
}

// List returns every account by name.
func (a *Accounts) List() ([]Account, error) {
	var out []Account
	err := tables.ForEach(bg, a.tb, tableUsers, func(_ string, raw []byte) error {
		var acc Account
		if err := json.Unmarshal(raw, &acc); err != nil {
			return err
		}
		out = append(out, acc)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func (a *Accounts) put(acc Account) error {
	raw, err := json.Marshal(acc)
	if err != nil {
		return err
	}
	return a.tb.Put(bg, tableUsers, acc.Name, raw)
}

// SetPassword changes a user's password and ends every session of the user.
func (a *Accounts) SetPassword(name, password string) error {
	if _, err := a.Get(name); err != nil {
		return err
	}
	if err := validPassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password, a.params)
	if err != nil {
		return err
	}
	acc, err := a.change(name, func(acc *Account) error { acc.Hash = hash; return nil })
	if err != nil {
		return err
	}
	_, err = a.RevokeUser(acc.ID)
	return err
}

// Remove deletes an account, its memberships and its sessions. The teams'
// worlds keep the user, so tasks assigned to it keep their assignee's name.
func (a *Accounts) Remove(name string) error {
	acc, err := a.Get(name)
	if err != nil {
		return err
	}
	teams, err := a.TeamsOf(acc.ID)
	if err != nil {
		return err
	}
	for slug := range teams {
		if err := a.RemoveMember(slug, acc.ID); err != nil {
			return err
		}
	}
	// Only the account read above: one made again meanwhile under the
	// same name (another id) stays.
	err = tables.Do(bg, a.tb, func(tx tables.Tx) error {
		raw, err := tx.Get(tableUsers, name)
		if err != nil {
			return err
		}
		if now, err := accountOf(name, raw); err != nil || now.ID != acc.ID {
			return ErrNoSuchUser
		}
		return tx.Delete(tableUsers, name)
	})
	if err != nil {
		return err
	}
	_, err = a.RevokeUser(acc.ID)
	return err
}

// Login checks a password and opens a session. It returns the token, which
// is stored nowhere: only its hash is.
func (a *Accounts) Login(name, password string) (token string, s Session, err error) {
	acc, err := a.Get(name)
	if errors.Is(err, ErrNoSuchUser) {
		// Spend the same time as a real check, so timing does not tell
		// which names exist.
		CheckPassword(a.dummyHash(), password)
		return "", Session{}, ErrBadLogin
	}
	if err != nil {
		return "", Session{}, err
	}
	if !CheckPassword(acc.Hash, password) {
		return "", Session{}, ErrBadLogin
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, err
	}
	token = base64.RawURLEncoding.EncodeToString(raw)
	now := a.now().UTC()
	s = Session{ID: engine.RandomID(), User: acc.ID, Name: acc.Name, Role: acc.Role,
		Created: now, Expires: now.Add(a.ttl), Hash: tokenHash(token)}
	rec, err := json.Marshal(s)
	if err != nil {
		return "", Session{}, err
	}
	// The session and the user's index change in one update, the index
	// read and written back: logins of one user racing each other
	// conflict, and the one that lost runs again on the index the other
	// wrote, so the quota holds and no session is left out of it.
	var ended []world.ID
	err = tables.Do(bg, a.tb, func(tx tables.Tx) error {
		ended = nil
		list, err := a.indexed(tx, acc.ID)
		if err != nil {
			return err
		}
		live := make([]Session, 0, len(list)+1)
		for _, o := range list {
			if now.Before(o.Expires) {
				live = append(live, o) // an expired one leaves the index here, its key at Sweep or its next use
			}
		}
		live = append(live, s) // last: the index is in the order of the logins, whatever the nodes' clocks say
		// A login past the quota ends the oldest sessions rather than
		// being refused: the person logging in is the one at a keyboard
		// now, and a browser forgotten on another machine months ago is
		// the session nobody misses; a refusal would lock out the
		// account's owner until sessions expired, and anyone who knows
		// the password can log in again either way.
		limit := a.MaxSessions
		if limit <= 0 || limit > maxIndexed {
			limit = maxIndexed
		}
		for n := 0; len(live) > limit && n < maxEndedAtOnce; n++ {
			if err := tx.Delete(tableSessions, live[0].Hash); err != nil {
				return err
			}
			ended = append(ended, live[0].ID)
			live = live[1:]
		}
		if err := tx.Put(tableSessions, s.Hash, rec); err != nil {
			return err
		}
		return putIndex(tx, acc.ID, live)
	})
	if err != nil {
		return "", Session{}, err
	}
	if a.OnEnded != nil && len(ended) > 0 {
		a.OnEnded(ended)
	}
	return token, s, nil
}

// The sessions index: tableUserSessions holds at each user's id the
// user's sessions, oldest first (a JSON list of the same records as the
// sessions table's), so that listing, counting and revoking a user's
// sessions read one key, not the whole sessions table (which on
// JetStream is a watch over every key). Every update that makes or ends a
// session reads the user's index and writes it back in the same
// compare-and-set: a session is never made without being indexed, so
// revoking the index's sessions revokes them all. An index may still
// list a session that ended by itself (expired, deleted at its next use
// or by Sweep): whoever reads it skips what has expired.
const tableUserSessions = "usersessions"

const (
	// maxIndexed bounds one user's sessions when the quota does not (no
	// limit): an index of 1,000 records is about 250 KiB, under a
	// table's value limit.
	maxIndexed = 1000
	// maxEndedAtOnce bounds the sessions one update ends, under the keys
	// an update may touch (tables.MaxKeys).
	maxEndedAtOnce = 500
)

// indexed returns the user's sessions as the index holds them, read in
// tx. A user never indexed (sessions made before the index was kept) is
// indexed from one scan of the sessions table: the index's absence is a
// read of the update too, so two first scans at once conflict as well.
func (a *Accounts) indexed(tx tables.Tx, user world.ID) ([]Session, error) {
	raw, err := tx.Get(tableUserSessions, user.String())
	if err != nil {
		return nil, err
	}
	if raw != nil {
		var list []Session
		if err := json.Unmarshal(raw, &list); err == nil {
			return list, nil
		}
		// A damaged index is made again from the sessions table.
	}
	return a.scanSessions(user)
}

// scanSessions reads the user's sessions from the whole sessions table,
// oldest first: what indexed does for a user never indexed.
func (a *Accounts) scanSessions(user world.ID) ([]Session, error) {
	var out []Session
	err := tables.ForEach(bg, a.tb, tableSessions, func(_ string, raw []byte) error {
		var s Session
		if json.Unmarshal(raw, &s) == nil && s.User == user {
			out = append(out, s)
		}
		return nil
	})
	sortOldestFirst(out)
	return out, err
}

func sortOldestFirst(list []Session) {
	sort.SliceStable(list, func(i, j int) bool { return list[i].Created.Before(list[j].Created) })
}

// putIndex writes the user's index in tx; an empty one stays, as the
// mark of a user indexed already.
func putIndex(tx tables.Tx, user world.ID, list []Session) error {
	if list == nil {
		list = []Session{}
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return tx.Put(tableUserSessions, user.String(), raw)
}

// endSessions ends those of the user's sessions that match (and, in the
// same updates, the sessions the index lists that have expired), and
// returns the ones it ended, at most maxEndedAtOnce an update.
func (a *Accounts) endSessions(user world.ID, match func(Session) bool) ([]Session, error) {
	var all []Session
	for {
		var ended []Session
		more := false
		err := tables.Do(bg, a.tb, func(tx tables.Tx) error {
			ended, more = nil, false
			list, err := a.indexed(tx, user)
			if err != nil {
				return err
			}
			now := a.now()
			kept := make([]Session, 0, len(list))
			for _, s := range list {
				expired := !now.Before(s.Expires)
				switch {
				case !match(s) && !expired:
					kept = append(kept, s)
				case len(ended) == maxEndedAtOnce:
					kept, more = append(kept, s), true
				default:
					if err := tx.Delete(tableSessions, s.Hash); err != nil {
						return err
					}
					if match(s) {
						ended = append(ended, s)
					}
				}
			}
			if len(kept) == len(list) && len(list) > 0 {
				return nil // nothing to end: no write, no check
			}
			return putIndex(tx, user, kept)
		})
		if err != nil {
			return all, err
		}
		all = append(all, ended...)
		if !more {
			return all, nil
		}
	}
}

// dummyHash is a hash of nothing with the configured parameters, made once.
func (a *Accounts) dummyHash() string {
	a.dummyOnce.Do(func() { a.dummy, _ = HashPassword("", a.params) })
	return a.dummy
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Session returns the live session of a token.
func (a *Accounts) Session(token string) (Session, error) {
	if token == "" || len(token) > 128 {
		return Session{}, ErrNoSession
	}
	h := tokenHash(token)
	raw, err := a.tb.Get(bg, tableSessions, h)
	if err != nil {
		return Session{}, err
	}
	if raw == nil {
		return Session{}, ErrNoSession
	}
	s, err := a.sessionMemo.decode(h, raw)
	if err != nil {
		return Session{}, err
	}
	if subtle.ConstantTimeCompare([]byte(s.Hash), []byte(h)) != 1 {
		return Session{}, ErrNoSession
	}
	if !a.now().Before(s.Expires) {
		a.tb.Delete(bg, tableSessions, h) // its index drops it at the user's next login, or at Sweep
		return Session{}, ErrSessionExpiry
	}
	return s, nil
}

// Logout revokes the session of a token.
func (a *Accounts) Logout(token string) (Session, error) {
	s, err := a.Session(token)
	if err != nil {
		return Session{}, err
	}
	ended, err := a.endSessions(s.User, func(o Session) bool { return o.Hash == s.Hash })
	if err == nil && len(ended) == 0 {
		err = a.tb.Delete(bg, tableSessions, s.Hash) // not indexed: cannot be, but a logout ends it whatever
	}
	return s, err
}

// Sweep deletes the expired sessions (a session is also deleted when its
// token is next used after expiry; Sweep catches the ones never used
// again), and takes them out of their users' indexes. It reads the whole
// sessions table, hourly. It returns how many it deleted.
func (a *Accounts) Sweep() (int, error) {
	now := a.now()
	var doomed []string
	users := map[world.ID]bool{}
	err := tables.ForEach(bg, a.tb, tableSessions, func(k string, raw []byte) error {
		var s Session
		if json.Unmarshal(raw, &s) != nil || !now.Before(s.Expires) {
			doomed = append(doomed, k)
			if !s.User.IsZero() {
				users[s.User] = true
			}
		}
		return nil
	})
	for _, k := range doomed {
		if err == nil {
			err = a.tb.Delete(bg, tableSessions, k)
		}
	}
	for user := range users {
		if err == nil {
			_, err = a.endSessions(user, func(Session) bool { return false }) // the expired ones leave the index
		}
	}
	return len(doomed), err
}

// RevokeUser ends every session of a user and returns their ids: the
// sessions the user's index lists, in updates of at most maxEndedAtOnce.
func (a *Accounts) RevokeUser(user world.ID) ([]world.ID, error) {
	ended, err := a.endSessions(user, func(Session) bool { return true })
	ids := make([]world.ID, 0, len(ended))
	for _, s := range ended {
		ids = append(ids, s.ID)
	}
	return ids, err
}
