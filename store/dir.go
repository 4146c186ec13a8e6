package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A data directory holds a deployment:
//
//	DIR/accounts.db      the deployment's save file: accounts, sessions, teams,
//	                     memberships, invitations (its log stays empty)
//	DIR/teams/SLUG.db    one save file per team: its world's log and snapshots,
//	                     its settings and saved views
//	DIR/teams/SLUG.db.wal  while the server runs: the team's write-ahead file (wal.go)
//	DIR/admin.sock       the running server's local admin socket
//
// Each file has its own lock, so one server holds the directory, and the
// tools find that server through its socket.
const (
	AccountsFile = "accounts.db"
	TeamsDir     = "teams"
	AdminSocket  = "admin.sock"
	// AdoptedTeam is the slug a save file of the time before data
	// directories becomes.
	AdoptedTeam = "main"
)

// TeamFile is the path of a team's save file in the data directory dir.
func TeamFile(dir, slug string) string { return filepath.Join(dir, TeamsDir, slug+".db") }

// PrepareDir makes sure dir is a data directory, creating it when it does
// not exist. A save file of an earlier txxt at dir itself (one file, one
// team, its users inside) is adopted in place: it moves to
// dir/teams/main.db and dir becomes the directory, so the same --data
// keeps working; from, when not empty and dir does not exist, names such a
// file elsewhere (the old default ./txxt.db) to move in the same way.
// Each step is a rename, and an adoption cut short finishes at the next
// call. It returns the path of the file it adopted, if any.
func PrepareDir(dir, from string) (adopted string, err error) {
	pending := dir + ".adopting"
	if _, err := os.Stat(pending); err == nil {
		return dir, finishAdoption(dir, pending)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if from != "" {
			if ffi, err := os.Stat(from); err == nil && ffi.Mode().IsRegular() {
				if err := checkAdoptable(from); err != nil {
					return "", err
				}
				if err := os.MkdirAll(filepath.Join(dir, TeamsDir), 0o700); err != nil {
					return "", err
				}
				if err := os.Rename(from, TeamFile(dir, AdoptedTeam)); err != nil {
					return "", fmt.Errorf("move %s into %s: %w", from, dir, err)
				}
				return from, syncDirs(filepath.Dir(from), filepath.Join(dir, TeamsDir), dir)
			}
		}
		return "", os.MkdirAll(filepath.Join(dir, TeamsDir), 0o700)
	case err != nil:
		return "", err
	case fi.Mode().IsRegular():
		if err := checkAdoptable(dir); err != nil {
			return "", err
		}
		if err := os.Rename(dir, pending); err != nil {
			return "", err
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return "", err
		}
		return dir, finishAdoption(dir, pending)
	case !fi.IsDir():
		return "", fmt.Errorf("%s is neither a data directory nor a save file", dir)
	}
	return "", os.MkdirAll(filepath.Join(dir, TeamsDir), 0o700)
}

// checkAdoptable opens a save file to adopt (refusing a damaged one, a
// foreign one, or one a running server holds) and closes it.
func checkAdoptable(path string) error {
	st, err := Open(path, Options{})
	if err != nil {
		return fmt.Errorf("adopt %s: %w", path, err)
	}
	return st.Close()
}

func finishAdoption(dir, pending string) error {
	if err := os.MkdirAll(filepath.Join(dir, TeamsDir), 0o700); err != nil {
		return err
	}
	if err := os.Rename(pending, TeamFile(dir, AdoptedTeam)); err != nil {
		return fmt.Errorf("move %s into %s: %w", pending, dir, err)
	}
	return syncDirs(filepath.Dir(dir), filepath.Join(dir, TeamsDir), dir)
}

func syncDirs(dirs ...string) error {
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// TeamSlugs lists the slugs of the team files in a data directory.
func TeamSlugs(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, TeamsDir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if slug, ok := strings.CutSuffix(e.Name(), ".db"); ok && e.Type().IsRegular() {
			out = append(out, slug)
		}
	}
	sort.Strings(out)
	return out, nil
}
