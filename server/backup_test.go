package server_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"txxt/engine"
	"txxt/store"
	"txxt/world"
)

// GET /api/backup gives an admin the whole save file as of one moment; a
// member and a stranger get nothing.
func TestBackupEndpoint(t *testing.T) {
	h := start(t, options{})
	c := h.dial(true, "")
	c.handshake()
	rev := c.ack(1, world.Command{Kind: world.CmdCreateService, Text: "in the backup"})

	if res, _ := h.do("GET", "/api/backup", "", nil); res.StatusCode != 401 {
		t.Fatalf("no token: %d", res.StatusCode)
	}
	if res, body := h.do("GET", "/api/backup", h.member, nil); res.StatusCode != 403 || len(body) > 200 {
		t.Fatalf("member: %d, %d bytes", res.StatusCode, len(body))
	}
	res, body := h.do("GET", "/api/backup", h.admin, nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("admin: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if got := res.Header.Get("X-Txxt-Revision"); got != strconv.FormatUint(rev, 10) {
		t.Fatalf("X-Txxt-Revision %q, want %d", got, rev)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	os.WriteFile(path, body, 0o600)
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := engine.Verify(st)
	if err != nil || v.Revision != rev || v.Tables["users"] < 2 {
		t.Fatalf("the copy: %+v %v", v, err)
	}
}
