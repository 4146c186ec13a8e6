package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"txxt/engine"
	"txxt/wire"
	"txxt/world"
)

// The history of a team: what its log holds of every change (who, when,
// from what to what), page by page, and the plan as it stood at a past
// moment. All of it is read from the world's log (the save file, or on a
// cluster the world's JetStream stream, from any node), never kept in
// memory: the engine's KeepLog setting is how far back it reaches.

const (
	historyLimit    = 50    // changes per page unless ?limit= says
	historyMaxLimit = 500   // the most one page holds
	activityScan    = 20000 // log records one activity page reads at most, so a filter that matches little still answers quickly
)

// changeView is one change as the JSON API answers it.
type changeView struct {
	Revision  uint64    `json:"revision"`
	Time      time.Time `json:"time"`
	Actor     world.ID  `json:"actor"`
	ActorName string    `json:"actor_name"`
	Kind      string    `json:"kind"`
	Task      *world.ID `json:"task,omitempty"`
	Title     string    `json:"title,omitempty"`
	Service   *world.ID `json:"service,omitempty"`
	// Field is what changed (slot, status, title, priority, assignee,
	// service; "" for a creation or deletion), From and To its value
	// before and after in words; From is "" when the kept log does not
	// tell.
	Field string `json:"field,omitempty"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	// Text says the change in a person's words, without who and when:
	// "moved from Tue 1 Dec 09:00–10:00 to Wed 2 Dec 14:00–15:00".
	Text string `json:"text"`
}

// historyPage is a page of changes, newest first.
type historyPage struct {
	Changes []changeView `json:"changes"`
	// Next is the before= of the next (older) page; 0 when there is none.
	Next uint64 `json:"next"`
	// Kept says where the kept history begins: complete (every change
	// since the team began) or from a revision and its time.
	Kept keptView `json:"kept"`
}

type keptView struct {
	Complete bool       `json:"complete"`
	From     uint64     `json:"from"`
	Time     *time.Time `json:"time,omitempty"`
}

// pageParams reads ?before=REV&limit=N.
func pageParams(r *http.Request) (before uint64, limit int, err error) {
	q := r.URL.Query()
	limit = historyLimit
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseUint(v, 10, 64); err != nil || before == 0 {
			return 0, 0, &world.Error{Code: world.CodeBadRequest, Message: "before is a revision: a whole number above 0."}
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > historyMaxLimit {
			return 0, 0, &world.Error{Code: world.CodeBadRequest, Message: fmt.Sprintf("limit is how many changes a page holds: 1 to %d.", historyMaxLimit)}
		}
		limit = n
	}
	return before, limit, nil
}

// names is what the history needs of the live world to say its changes:
// people's and services' names and the tasks' titles and services.
type names struct {
	users    map[world.ID]string
	services map[world.ID]string
	tasks    map[world.ID]world.Task // only those asked for (nil: all)
}

func readNames(r *http.Request, t *team, task *world.ID) (names, error) {
	n := names{users: map[world.ID]string{}, services: map[world.ID]string{}, tasks: map[world.ID]world.Task{}}
	err := t.eng.Read(r.Context(), func(w *world.World) {
		for _, u := range w.Users() {
			n.users[u.ID] = u.Name
		}
		for _, s := range w.Services() {
			n.services[s.ID] = s.Name
		}
		if task != nil {
			if tk, ok := w.Task(*task); ok {
				n.tasks[tk.ID] = tk
			}
			return
		}
		for _, tk := range w.Tasks() {
			n.tasks[tk.ID] = tk
		}
	})
	return n, err
}

func (n names) user(id world.ID) string {
	if id.IsZero() {
		return "the server"
	}
	if name, ok := n.users[id]; ok {
		return name
	}
	return "someone no longer in the team"
}

func (n names) service(id world.ID) string {
	if name, ok := n.services[id]; ok {
		return name
	}
	return "a service"
}

var weekdays = [...]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// slotWords says a slot: "Tue 1 Dec 09:00–10:00", or "the staging queue".
func slotWords(s world.Slot) string {
	if s.Date == world.NoDate {
		return "the staging queue"
	}
	d := time.Unix(int64(s.Date)*86400, 0).UTC()
	end := s.Start + s.Duration
	return fmt.Sprintf("%s %d %s %02d:%02d–%02d:%02d", weekdays[(int(s.Date)+3)%7], d.Day(), d.Format("Jan"), s.Start/60, s.Start%60, end/60, end%60)
}

// view says c in words, with what it changed from and to.
func (n names) view(c engine.Change, title string) changeView {
	ev := &c.Event
	v := changeView{Revision: c.Revision, Time: c.Time, Actor: c.Actor, ActorName: n.user(c.Actor), Kind: ev.Kind.String()}
	if engine.IsTaskEvent(ev.Kind) {
		id := ev.Task.ID
		v.Task = &id
		if ev.Kind == world.EvTaskCreated || ev.Kind == world.EvTaskRenamed {
			title = ev.Task.Title
		}
		if title == "" && c.Known&engine.FieldTitle != 0 {
			title = c.Before.Title
		}
		v.Title = title
	}
	from := func(f engine.Fields, s string) string {
		if c.Known&f == 0 {
			return ""
		}
		return s
	}
	b := &c.Before
	switch ev.Kind {
	case world.EvTaskCreated:
		svc := ev.Task.Service
		v.Service = &svc
		v.Text = "created it in " + slotWords(ev.Task.Slot) + ", for " + n.service(svc)
	case world.EvTaskDeleted:
		v.Text = "deleted it"
	case world.EvTaskScheduled, world.EvTaskMoved:
		v.Field, v.From, v.To = "slot", from(engine.FieldSlot, slotWords(b.Slot)), slotWords(ev.Task.Slot)
		verb := "moved"
		if ev.Kind == world.EvTaskScheduled {
			verb = "scheduled"
		} else if b.Slot.Date == ev.Task.Slot.Date && b.Slot.Start == ev.Task.Slot.Start && c.Known&engine.FieldSlot != 0 {
			verb = "resized"
		}
		v.Text = verb + fromTo(v.From, v.To)
	case world.EvTaskUnscheduled:
		v.Field, v.From, v.To = "slot", from(engine.FieldSlot, slotWords(b.Slot)), slotWords(world.NoSlot)
		v.Text = "unscheduled it" + fromTo(v.From, v.To)
	case world.EvTaskCompleted, world.EvTaskStarted, world.EvTaskReopened:
		to := map[world.EventKind]world.Status{world.EvTaskCompleted: world.Completed, world.EvTaskStarted: world.Active, world.EvTaskReopened: world.Scheduled}[ev.Kind]
		v.Field, v.From, v.To = "status", from(engine.FieldStatus, b.Status.String()), to.String()
		v.Text = map[world.EventKind]string{world.EvTaskCompleted: "completed it", world.EvTaskStarted: "started it", world.EvTaskReopened: "reopened it"}[ev.Kind]
		if v.From != "" {
			v.Text += " (it was " + v.From + ")"
		}
	case world.EvTaskRenamed:
		v.Field, v.From, v.To = "title", from(engine.FieldTitle, b.Title), ev.Task.Title
		v.Text = "renamed it" + fromTo(quoted(v.From), quoted(v.To))
	case world.EvTaskPrioritized:
		v.Field, v.From, v.To = "priority", from(engine.FieldPriority, b.Priority.String()), ev.Task.Priority.String()
		v.Text = "changed its priority" + fromTo(v.From, v.To)
	case world.EvTaskAssigned:
		who := func(id world.ID) string {
			if id.IsZero() {
				return "nobody"
			}
			return n.user(id)
		}
		v.Field, v.From, v.To = "assignee", from(engine.FieldAssignee, who(b.Assignee)), who(ev.Task.Assignee)
		v.Text = "assigned it" + fromTo(v.From, v.To)
	case world.EvTaskServiceChanged:
		svc := ev.Task.Service
		v.Service = &svc
		v.Field, v.From, v.To = "service", from(engine.FieldService, n.service(b.Service)), n.service(svc)
		v.Text = "moved it to another service" + fromTo(v.From, v.To)
	case world.EvServiceCreated:
		svc := ev.Service.ID
		v.Service = &svc
		v.Text = "created the service " + quoted(ev.Service.Name)
	case world.EvServiceRenamed:
		svc := ev.Service.ID
		v.Service = &svc
		v.Text = "renamed a service to " + quoted(ev.Service.Name)
	case world.EvServiceRecolored:
		svc := ev.Service.ID
		v.Service = &svc
		v.Text = "recoloured the service " + quoted(n.service(svc))
	case world.EvServiceArchived:
		svc := ev.Service.ID
		v.Service = &svc
		if ev.Service.Archived {
			v.Text = "archived the service " + quoted(n.service(svc))
		} else {
			v.Text = "brought back the service " + quoted(n.service(svc))
		}
	case world.EvUserCreated:
		v.Text = "added " + ev.User.Name + " to the calendar"
	case world.EvUserRenamed:
		v.Text = "renamed a person to " + ev.User.Name
	case world.EvGridChanged:
		v.Text = fmt.Sprintf("set the grid to %d minutes", ev.Grid)
	case world.EvScheduleChanged:
		v.Text = "changed the working week"
	default:
		v.Text = "changed " + ev.Kind.String()
	}
	if v.Service == nil && v.Task != nil {
		if tk, ok := n.tasks[*v.Task]; ok {
			svc := tk.Service
			v.Service = &svc
		}
	}
	return v
}

func fromTo(from, to string) string {
	if from == "" {
		return " to " + to
	}
	return " from " + from + " to " + to
}

func quoted(s string) string {
	if s == "" {
		return ""
	}
	return "“" + s + "”"
}

// historyOf returns the history of t's world: its save file's, or the
// history its engine's log keeps (a cluster's, on every node). It answers
// the request itself when there is none.
func (s *Server) historyOf(w http.ResponseWriter, r *http.Request, t *team) (engine.History, bool) {
	if t.st != nil {
		return engine.NewHistory(t.st), true
	}
	if h, ok := t.eng.History(); ok {
		return h, true
	}
	writeError(w, http.StatusNotImplemented, world.CodeNotFound, msgNoHistory)
	return engine.History{}, false
}

const msgNoHistory = "This server's log of the team's calendar does not keep its past, so it cannot show the history or the plan as it stood."

func keptOf(k engine.Kept) keptView {
	v := keptView{Complete: k.Complete, From: k.From}
	if !k.Time.IsZero() {
		v.Time = &k.Time
	}
	return v
}

// handleTaskHistory answers GET /api/tasks/{id}/history?before=&limit=:
// the task's changes, newest first (none for a task the kept log does not
// know: it may be older than the kept history).
func (s *Server) handleTaskHistory() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := world.ParseID(r.PathValue("id"))
		if !ok {
			s.apiError(w, r, &world.Error{Code: world.CodeBadRequest, Message: "A task's id is a UUID such as 0b5c…-…; this one is not."})
			return
		}
		before, limit, err := pageParams(r)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		t := teamFrom(r).t
		h, ok := s.historyOf(w, r, t)
		if !ok {
			return
		}
		n, err := readNames(r, t, &id)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		changes, next, err := h.TaskChanges(r.Context(), id, before, limit)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		kept, err := h.Kept(r.Context())
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		page := historyPage{Changes: make([]changeView, 0, len(changes)), Next: next, Kept: keptOf(kept)}
		title := n.tasks[id].Title
		for i := range changes {
			page.Changes = append(page.Changes, n.view(changes[i], title))
			if k := changes[i].Known; k&engine.FieldTitle != 0 {
				title = changes[i].Before.Title // the older changes name it as it was called then
			}
		}
		writeJSON(w, http.StatusOK, page)
	})
}

// handleActivity answers GET /api/activity?before=&limit=&user=&service=:
// the team's changes, newest first, by one person and/or for one service.
// A task's service is the one it has now (or that its change names), so a
// deleted task's changes match no service filter.
func (s *Server) handleActivity() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before, limit, err := pageParams(r)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		var user, service world.ID
		for _, p := range []struct {
			name string
			id   *world.ID
		}{{"user", &user}, {"service", &service}} {
			if v := r.URL.Query().Get(p.name); v != "" {
				id, ok := world.ParseID(v)
				if !ok {
					s.apiError(w, r, &world.Error{Code: world.CodeBadRequest, Message: p.name + " is an id (a UUID); this one is not."})
					return
				}
				*p.id = id
			}
		}
		t := teamFrom(r).t
		h, ok := s.historyOf(w, r, t)
		if !ok {
			return
		}
		n, err := readNames(r, t, nil)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		serviceOf := func(c engine.Change) world.ID {
			ev := &c.Event
			switch {
			case ev.Kind == world.EvTaskCreated || ev.Kind == world.EvTaskServiceChanged:
				return ev.Task.Service
			case engine.IsTaskEvent(ev.Kind):
				return n.tasks[ev.Task.ID].Service
			case ev.Kind == world.EvServiceCreated || ev.Kind == world.EvServiceRenamed || ev.Kind == world.EvServiceRecolored || ev.Kind == world.EvServiceArchived:
				return ev.Service.ID
			}
			return world.ID{}
		}
		changes, next, err := h.Changes(r.Context(), before, limit, activityScan, func(c engine.Change) bool {
			return (user.IsZero() || c.Actor == user) && (service.IsZero() || serviceOf(c) == service)
		})
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		kept, err := h.Kept(r.Context())
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		page := historyPage{Changes: make([]changeView, 0, len(changes)), Next: next, Kept: keptOf(kept)}
		for _, c := range changes {
			page.Changes = append(page.Changes, n.view(c, n.tasks[c.Event.Task.ID].Title)) // its title now, unless the change names one
		}
		writeJSON(w, http.StatusOK, page)
	})
}

// handlePast answers GET /api/past?rev=N or ?at=RFC3339 (neither: the
// newest revision): the world as it
// stood then, as a v1 Snapshot frame (the encoding a client loads on
// connect), rebuilt from the world's log. X-Txxt-Revision and X-Txxt-Time say
// which revision it is and when it was made.
func (s *Server) handlePast() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := teamFrom(r).t
		h, ok := s.historyOf(w, r, t)
		if !ok {
			return
		}
		q := r.URL.Query()
		var rev uint64
		switch {
		case q.Get("rev") != "" && q.Get("at") == "":
			n, err := strconv.ParseUint(q.Get("rev"), 10, 64)
			if err != nil {
				s.apiError(w, r, &world.Error{Code: world.CodeBadRequest, Message: "rev is a revision: a whole number."})
				return
			}
			rev = n
		case q.Get("at") != "" && q.Get("rev") == "":
			at, err := time.Parse(time.RFC3339, q.Get("at"))
			if err != nil {
				s.apiError(w, r, &world.Error{Code: world.CodeBadRequest, Message: "at is a moment such as 2026-12-01T10:41:00Z (RFC 3339)."})
				return
			}
			if rev, err = h.RevisionAt(r.Context(), at); err != nil {
				s.apiError(w, r, err)
				return
			}
		case q.Get("rev") == "" && q.Get("at") == "":
			kept, err := h.Kept(r.Context())
			if err != nil {
				s.apiError(w, r, err)
				return
			}
			rev = kept.Last // now, rebuilt the same way
		default:
			s.apiError(w, r, &world.Error{Code: world.CodeBadRequest, Message: "Say which moment: ?rev=REVISION or ?at=2026-12-01T10:41:00Z, not both."})
			return
		}
		if !s.pasts.acquire(r.Context()) {
			s.apiError(w, r, engine.ErrOverloaded)
			return
		}
		past, err := h.Past(r.Context(), rev)
		s.pasts.release()
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		st := past.State()
		frame := wire.AppendSnapshot(nil, &st, true)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Txxt-Revision", strconv.FormatUint(rev, 10))
		if rec, ok, err := h.Record(r.Context(), rev); err == nil && ok {
			w.Header().Set("X-Txxt-Time", time.Unix(0, rec.Time).UTC().Format(time.RFC3339Nano))
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(frame)))
		w.Write(frame)
	})
}
