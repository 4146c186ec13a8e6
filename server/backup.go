package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"txxt/store"
	"txxt/tables"
)

// handleBackup answers an admin with a consistent copy of the save file as
// of one moment. The copy is written to a temporary file first and sent
// from there: sending it from the read transaction would hold that
// transaction open for as long as the client takes to download, and bbolt
// cannot grow the file's memory map while a reader holds it, so commits
// would wait on a slow download.
//
// HEAD answers the headers a GET would have but the size, without making
// the copy: it is a request anyone with the role may repeat cheaply, and
// a copy is the whole file written to disk.
func (s *Server) handleBackup() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			rev := teamFrom(r).t.eng.Revision()
			h := w.Header()
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="txxt-%d.db"`, rev))
			h.Set("Cache-Control", "no-store")
			h.Set("X-Txxt-Revision", strconv.FormatUint(rev, 10))
			return
		}
		f, err := os.CreateTemp("", "txxt-backup-*.db")
		if err != nil {
			s.apiError(w, r, fmt.Errorf("backup: a temporary file for the copy: %w", err))
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		t := teamFrom(r).t
		_, rev, err := t.st.Backup(f)
		if err == nil && tables.Tables(t.st) != s.accounts.tb {
			err = s.withMembers(f, t.slug)
		}
		var size int64
		if err == nil {
			size, err = f.Seek(0, io.SeekEnd)
		}
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			s.apiError(w, r, fmt.Errorf("backup: %w", err))
			return
		}
		s.logger.Info("backup", "team", teamFrom(r).t.slug, "revision", rev, "bytes", size, "by", sessionOf(r).Name)
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="txxt-%d.db"`, rev))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Txxt-Revision", strconv.FormatUint(rev, 10))
		io.Copy(w, f)
	})
}

// withMembers writes the team's members' accounts into the copy f (its
// users table, each with its role in the team as its role), so that the
// copy stands alone as a save file from the time before data directories
// did: served as it is, or put in a data directory, it is adopted with
// logins that work. It carries no sessions.
func (s *Server) withMembers(f *os.File, slug string) error {
	if err := f.Sync(); err != nil {
		return err
	}
	members, err := s.accounts.Members(slug)
	if err != nil {
		return err
	}
	var accs []Account
	for _, m := range members {
		acc, err := s.accounts.Get(m.Name)
		if errors.Is(err, ErrNoSuchUser) {
			continue
		} else if err != nil {
			return err
		}
		acc.Role = m.Role
		accs = append(accs, acc)
	}
	cp, err := store.Open(f.Name(), store.Options{})
	if err != nil {
		return err
	}
	// In updates of at most tables.MaxKeys: the copy is nobody's until it
	// is sent, so it need not be one transaction.
	for len(accs) > 0 && err == nil {
		part := accs[:min(len(accs), tables.MaxKeys)]
		accs = accs[len(part):]
		err = cp.Update(context.Background(), func(tx tables.Tx) error {
			for _, acc := range part {
				raw, err := json.Marshal(acc)
				if err != nil {
					return err
				}
				if err := tx.Put(tableUsers, acc.Name, raw); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if cerr := cp.Close(); err == nil {
		err = cerr
	}
	return err
}
