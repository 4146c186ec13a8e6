package server

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"txxt/world"
)

// handleBackup answers an admin with a consistent copy of the save file as
// of one moment. The copy is written to a temporary file first and sent
// from there: sending it from the read transaction would hold that
// transaction open for as long as the client takes to download, and bbolt
// cannot grow the file's memory map while a reader holds it, so commits
// would wait on a slow download.
func (s *Server) handleBackup() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.CreateTemp("", "txxt-backup-*.db")
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, world.CodeStorageUnavailable, "no room for the backup's copy: "+err.Error())
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		size, rev, err := s.st.Backup(f)
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, world.CodeStorageUnavailable, "backup: "+err.Error())
			return
		}
		s.logger.Info("backup", "revision", rev, "bytes", size, "by", sessionOf(r).Name)
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="txxt-%d.db"`, rev))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Txxt-Revision", strconv.FormatUint(rev, 10))
		io.Copy(w, f)
	})
}
