package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"txxt/store"
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

// Keys in the profiles table: "p/<user>/<name>" holds a profile,
// "active/<user>" the name of the user's active one.
func profileKey(user world.ID, name string) string { return "p/" + user.String() + "/" + name }
func activeKey(user world.ID) string               { return "active/" + user.String() }

func validProfileName(name string) bool {
	return name != "" && len(name) <= world.MaxName && utf8.ValidString(name) && !strings.ContainsAny(name, "/\x00")
}

// activeProfile returns the user's active profile as JSON, or nil.
func (tm *team) activeProfile(user world.ID) []byte {
	t := tm.st.Table("profiles")
	name, err := t.Get(activeKey(user))
	if err != nil || name == nil {
		return nil
	}
	raw, _ := t.Get(profileKey(user, string(name)))
	return raw
}

func (s *Server) handleListProfiles() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg, ok := pageOf(w, r)
		if !ok {
			return
		}
		user := sessionOf(r).User
		t := teamFrom(r).t.st.Table("profiles")
		active, _ := t.Get(activeKey(user))
		prefix := "p/" + user.String() + "/"
		out := []Profile{}
		more := false
		err := t.Range(prefix, pg.after, func(_ string, v []byte) bool {
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
		err := teamFrom(r).t.st.Tables(func(tx store.TableTx) error {
			key := profileKey(user, name)
			if q.Views > 0 && tx.Get("profiles", key) == nil {
				n := 0
				tx.Range("profiles", "p/"+user.String()+"/", "", func(string, []byte) bool { n++; return n < q.Views })
				if n >= q.Views {
					return fmt.Errorf("%w: you have %d saved views in this team, the most this server allows: delete one you no longer use first", ErrQuota, q.Views)
				}
			}
			return tx.Put("profiles", key, raw)
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
		t := teamFrom(r).t.st.Table("profiles")
		raw, err := t.Get(profileKey(user, name))
		if err == nil && raw == nil {
			writeError(w, http.StatusNotFound, world.CodeNotFound, "There is no saved view called '"+name+"'.")
			return
		}
		if err == nil {
			err = t.Put(activeKey(user), []byte(name))
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
		t := teamFrom(r).t.st.Table("profiles")
		raw, err := t.Get(profileKey(user, name))
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if raw == nil {
			writeError(w, http.StatusNotFound, world.CodeNotFound, "There is no saved view called '"+name+"'.")
			return
		}
		active, err := t.Get(activeKey(user))
		if err == nil && string(active) == name {
			err = t.Delete(activeKey(user))
		}
		if err == nil {
			err = t.Delete(profileKey(user, name))
		}
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
