package server

import (
	"net/http"
	"net/url"
	"strconv"

	"txxt/world"
)

// Every list endpoint answers one page: at most ?limit= items (default
// and most maxPage), starting after the item the cursor ?after= names.
// When there may be more, the answer's Link header names the next page
// (RFC 8288: `Link: </api/members?after=bob&limit=1000>; rel="next"`), so
// no answer is built bigger than a page whatever the list holds. The body
// stays the list itself, as before paging.
const maxPage = 1000

// page is a list request's ?limit= and ?after=.
type page struct {
	limit int
	after string
}

// pageOf reads the request's page; it answers 400 itself and returns
// false when ?limit= is not a number from 1 to maxPage.
func pageOf(w http.ResponseWriter, r *http.Request) (page, bool) {
	q := r.URL.Query()
	p := page{limit: maxPage, after: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, "limit is a number of items from 1 to "+strconv.Itoa(maxPage))
			return page{}, false
		}
		p.limit = n
	}
	if len(p.after) > 256 {
		writeError(w, http.StatusBadRequest, world.CodeBadRequest, "after is the cursor of the previous page's Link header")
		return page{}, false
	}
	return p, true
}

// next sets the Link header of the page after the one that ended with
// the item whose cursor is last.
func (p page) next(w http.ResponseWriter, r *http.Request, last string) {
	q := url.Values{}
	q.Set("after", last)
	q.Set("limit", strconv.Itoa(p.limit))
	w.Header().Set("Link", "<"+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
}

// pageSlice answers one page of items, which are in the list's order:
// it skips the items up to the cursor (past reports whether an item comes
// after it; once true, it stays true) and takes p.limit of the rest,
// setting the Link header when more follow.
func pageSlice[T any](w http.ResponseWriter, r *http.Request, p page, items []T, past func(T) bool, cursor func(T) string) []T {
	i := 0
	if p.after != "" {
		for i < len(items) && !past(items[i]) {
			i++
		}
	}
	items = items[i:]
	if len(items) > p.limit {
		items = items[:p.limit]
		p.next(w, r, cursor(items[len(items)-1]))
	}
	return items
}
