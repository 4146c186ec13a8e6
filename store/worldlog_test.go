package store

import (
	"path/filepath"
	"testing"
	"time"

	"txxt/tables"
	"txxt/tables/tabletest"
	"txxt/worldlog"
	"txxt/worldlog/logtest"
)

// The save file passes the suite every backend of the engine passes.
func TestWorldLog(t *testing.T) {
	open := func(t *testing.T, path string, opts Options) (*Store, error) {
		s, err := Open(path, opts)
		if err == nil {
			t.Cleanup(func() { s.Close() })
		}
		return s, err
	}
	logtest.Run(t, logtest.Backend{
		New: func(t *testing.T) worldlog.Log {
			s, err := open(t, filepath.Join(t.TempDir(), "world.db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Reopen: func(t *testing.T, l worldlog.Log) worldlog.Log {
			old := l.(*Store)
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := open(t, old.Path(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Takeover: func(t *testing.T, l worldlog.Log) (worldlog.Log, error) {
			// The file's lock refuses a second writer: a second server on
			// the same file never starts.
			s, err := open(t, l.(*Store).Path(), Options{Timeout: 10 * time.Millisecond})
			if err == nil {
				t.Fatal("a second writer opened a save file that is open")
			}
			return s, err
		},
		CutsToSnapshots: true,
	})
}

// The save file's tables pass the suite every tables backend passes.
func TestTablesSuite(t *testing.T) {
	open := func(t *testing.T, path string) *Store {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	tabletest.Run(t, tabletest.Backend{
		New: func(t *testing.T) tables.Tables { return open(t, filepath.Join(t.TempDir(), "tables.db")) },
		Reopen: func(t *testing.T, tb tables.Tables) tables.Tables {
			old := tb.(*Store)
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, old.Path())
		},
		// One process holds a save file: a second handle is the same one.
		Second: func(_ *testing.T, tb tables.Tables) tables.Tables { return tb },
	})
}
