package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"txxt/tables"
)

// An update that kept losing its race to other writers (tables.Do gave
// up) is a conflict the client may retry, in a person's words; the
// store's words stay in the log.
func TestConflictIsAnswered409(t *testing.T) {
	s := &Server{logger: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	s.apiError(rec, httptest.NewRequest("PUT", "/api/profiles/x", nil), fmt.Errorf("tables KV_X: %w (wrong last sequence: 7)", tables.ErrConflict))
	var body struct{ Code, Message string }
	json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusConflict || body.Code != "CONFLICT" || body.Message != "Someone changed this at the same moment, so nothing was changed: try again." {
		t.Fatalf("%d %+v", rec.Code, body)
	}
}
