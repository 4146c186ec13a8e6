package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"txxt/tables"
	"txxt/world"
)

// kib says a size in KiB, as a person reads it: "8 KiB", "8.5 KiB".
func kib(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}

// Profile is a user's saved view of the calendar.
type Profile struct {
	Name      string     `json:"name"`
	View      string     `json:"view"` // "week" or "month"
	Date      string     `json:"date"` // YYYY-MM-DD the view shows; empty: today
	Services  []world.ID `json:"services"`
	Assignees []world.ID `json:"assignees"`
	Collapsed bool       `json:"collapsed"`
	Layout    string     `json:"layout,omitempty"` // "time" or "person"; empty: time
	Active    bool       `json:"active"`
}

// Keys in the team's profiles table (team.tb): "p/<user>/<name>" holds a
// profile, "active/<user>" the name of the user's active one, and
// "count/<user>" how many profiles the user has, in decimal (see
// viewCount).
const tableProfiles = "profiles"

func profileKey(user world.ID, name string) string { return "p/" + user.String() + "/" + name }
func activeKey(user world.ID) string               { return "active/" + user.String() }
func viewCountKey(user world.ID) string            { return "count/" + user.String() }

// viewCount returns how many saved views user has, read in tx: every
// update that makes or deletes a view reads the count and writes it back
// changed, so two updates that race on one user's views conflict at the
// commit's check, and the one that lost runs again on the count the other
// wrote. That is what makes the quota hold when two new views are saved
// at once. A user whose count was never stored (views saved before the
// count was kept) has their views counted once; the count's absence is a
// read too, so two first counts at once conflict as well.
func viewCount(ctx context.Context, tb tables.Tables, tx tables.Tx, user world.ID) (int, error) {
	v, err := tx.Get(tableProfiles, viewCountKey(user))
	if err != nil {
		return 0, err
	}
	if v != nil {
		if n, err := strconv.Atoi(string(v)); err == nil && n >= 0 {
			return n, nil
		}
	}
	n := 0
	err = tb.Range(ctx, tableProfiles, "p/"+user.String()+"/", "", func(string, []byte) bool { n++; return true })
	return n, err
}

func putViewCount(tx tables.Tx, user world.ID, n int) error {
	return tx.Put(tableProfiles, viewCountKey(user), []byte(strconv.Itoa(max(n, 0))))
}

func validProfileName(name string) bool {
	return name != "" && len(name) <= world.MaxName && utf8.ValidString(name) && !strings.ContainsAny(name, "/\x00")
}

// activeProfile returns the user's active profile as JSON, or nil.
func (tm *team) activeProfile(user world.ID) []byte {
	ctx := context.Background()
	name, err := tm.tb.Get(ctx, tableProfiles, activeKey(user))
	if err != nil || name == nil {
		return nil
	}
	raw, _ := tm.tb.Get(ctx, tableProfiles, profileKey(user, string(name)))
	return raw
}

func (s *Server) handleListProfiles() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg, ok := pageOf(w, r)
		if !ok {
			return
		}
		user := sessionOf(r).User
		tb := teamFrom(r).t.tb
		active, _ := tb.Get(r.Context(), tableProfiles, activeKey(user))
		prefix := "p/" + user.String() + "/"
		out := []Profile{}
		more := false
		err := tb.Range(r.Context(), tableProfiles, prefix, pg.after, func(_ string, v []byte) bool {
			if len(out) == pg.limit {
				more = true
				return false
			}
			var p Profile
			if json.Unmarshal(v, &p) == nil {
				p.Active = p.Name == string(active)
				out = append(out, p)
			}
			return true
		})
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if more {
			pg.next(w, r, out[len(out)-1].Name)
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func (s *Server) handlePutProfile() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !validProfileName(name) {
			writeError(w, http.StatusBadRequest, world.CodeInvalidName, "A saved view's name is 1 to 64 bytes, without '/'.")
			return
		}
		var p Profile
		if !s.decodeJSON(w, r, &p) {
			return
		}
		p.Name, p.Active = name, false
		if p.View == "" {
			p.View = "week"
		}
		if p.View != "week" && p.View != "month" {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, "A saved view shows a week or a month.")
			return
		}
		if p.Layout != "" && p.Layout != "time" && p.Layout != "person" {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, `layout is "time" or "person"`)
			return
		}
		if _, err := time.Parse(time.DateOnly, p.Date); p.Date != "" && err != nil {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, "A saved view's date is a day such as 2025-12-01, or empty for today.")
			return
		}
		raw, _ := json.Marshal(p)
		q := s.cfg.Quotas
		if q.ViewBytes > 0 && len(raw) > q.ViewBytes {
			writeError(w, http.StatusForbidden, world.CodeQuotaExceeded, fmt.Sprintf(
				"A saved view is at most %s on this server, and this one is %s: choose fewer services and people for it.", kib(q.ViewBytes), kib(len(raw))))
			return
		}
		user := sessionOf(r).User
		tb := teamFrom(r).t.tb
		err := tables.Do(r.Context(), tb, func(tx tables.Tx) error {
			key := profileKey(user, name)
			old, err := tx.Get(tableProfiles, key)
			if err != nil {
				return err
			}
			if old == nil {
				// A new view: counted in this update (viewCount), so
				// the quota holds against views saved at the same moment.
				n, err := viewCount(r.Context(), tb, tx, user)
				if err != nil {
					return err
				}
				if q.Views > 0 && n >= q.Views {
					return fmt.Errorf("%w: you have %d saved views in this team, the most this server allows: delete one you no longer use first", ErrQuota, q.Views)
				}
				if err := putViewCount(tx, user, n+1); err != nil {
					return err
				}
			}
			return tx.Put(tableProfiles, key, raw)
		})
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
}

func (s *Server) handleActivateProfile() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, name := sessionOf(r).User, r.PathValue("name")
		var raw []byte
		// The view must still be there when it is made the active one.
		err := tables.Do(r.Context(), teamFrom(r).t.tb, func(tx tables.Tx) error {
			var err error
			if raw, err = tx.Get(tableProfiles, profileKey(user, name)); err != nil || raw == nil {
				return err
			}
			return tx.Put(tableProfiles, activeKey(user), []byte(name))
		})
		if err == nil && raw == nil {
			writeError(w, http.StatusNotFound, world.CodeNotFound, "There is no saved view called '"+name+"'.")
			return
		}
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		var p Profile
		json.Unmarshal(raw, &p)
		p.Active = true
		writeJSON(w, http.StatusOK, p)
	})
}

func (s *Server) handleDeleteProfile() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, name := sessionOf(r).User, r.PathValue("name")
		found := false
		tb := teamFrom(r).t.tb
		err := tables.Do(r.Context(), tb, func(tx tables.Tx) error {
			raw, err := tx.Get(tableProfiles, profileKey(user, name))
			if found = raw != nil; err != nil || !found {
				return err
			}
			// The count read before the view goes: a first count
			// (viewCount) still sees it.
			n, err := viewCount(r.Context(), tb, tx, user)
			if err == nil {
				err = putViewCount(tx, user, n-1)
			}
			if err != nil {
				return err
			}
			active, err := tx.Get(tableProfiles, activeKey(user))
			if err == nil && string(active) == name {
				err = tx.Delete(tableProfiles, activeKey(user))
			}
			if err == nil {
				err = tx.Delete(tableProfiles, profileKey(user, name))
			}
			return err
		})
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if !found {
			writeError(w, http.StatusNotFound, world.CodeNotFound, "There is no saved view called '"+name+"'.")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
