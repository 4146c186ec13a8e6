package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"txxt/engine"
	"txxt/server"
	"txxt/store"
)

// defaultData is the data directory when neither --data nor the
// environment names one.
const defaultData = "txxt-data"

// legacyDefault is the save file an earlier txxt used by default; a
// default data directory that does not exist yet adopts it.
const legacyDefault = "txxt.db"

// dataFlag registers --data: the data directory (TXXT_DATA, else the
// earlier TXXT_SAVE_FILE, else ./txxt-data).
func dataFlag(fs *flag.FlagSet, getenv func(string) string) *string {
	def := defaultData
	if v := getenv("TXXT_SAVE_FILE"); v != "" {
		def = v
	}
	if v := getenv("TXXT_DATA"); v != "" {
		def = v
	}
	return fs.String("data", def, "data directory: one save file per team and one for the accounts (env TXXT_DATA); a save file of an earlier txxt given here is adopted as the team \"main\"")
}

// prepareData makes the data directory ready (adopting an earlier save
// file) and returns its path.
func prepareData(dir string, fs *flag.FlagSet, getenv func(string) string, logger *slog.Logger) (string, error) {
	from := ""
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "data" })
	if !explicit && getenv("TXXT_DATA") == "" && getenv("TXXT_SAVE_FILE") == "" {
		from = legacyDefault
	}
	adopted, err := store.PrepareDir(dir, from)
	if err != nil {
		return "", refused(fmt.Errorf("data directory %s: %w", dir, err))
	}
	if adopted != "" {
		logger.Info("adopted an earlier save file as the team \"main\"", "file", adopted, "now", store.TeamFile(dir, store.AdoptedTeam))
	}
	return dir, nil
}

// listenAdmin listens on the data directory's admin socket, which only
// the user the server runs as may open. A socket file left by a server
// that died is removed; one a live server answers on means the directory
// is in use.
func listenAdmin(dir string) (net.Listener, error) {
	path := filepath.Join(dir, store.AdminSocket)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another txxt server is running on %s (it answers on %s)", dir, path)
	}
	os.Remove(path)
	old := umask(0o077)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// admin is how the command-line tools administer a data directory: through
// the running server's admin socket when one answers, else over the files
// themselves with an in-process server (that takes the files' locks, so
// it fails when another process holds them). Either way the requests are
// the JSON API's, as the operator.
type admin struct {
	do    func(*http.Request) (*http.Response, error)
	close func()
	live  bool // a running server answered
}

func openAdmin(ctx context.Context, dir string) (*admin, error) {
	path := filepath.Join(dir, store.AdminSocket)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		}}
		return &admin{do: client.Do, close: client.CloseIdleConnections, live: true}, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("no data directory at %s: %w", dir, err)
	}
	if _, err := store.PrepareDir(dir, ""); err != nil {
		return nil, refused(fmt.Errorf("data directory %s: %w", dir, err))
	}
	accounts, err := openSaveFile(filepath.Join(dir, store.AccountsFile))
	if err != nil {
		return nil, err
	}
	open := teamOpener(dir, slog.New(slog.DiscardHandler), engine.Options{})
	slugs, err := store.TeamSlugs(dir)
	if err != nil {
		accounts.Close()
		return nil, err
	}
	srv, err := server.NewDeployment(server.Config{Version: version}, accounts, open, slugs)
	if err != nil {
		accounts.Close()
		return nil, err
	}
	h := srv.OperatorHandler()
	return &admin{
		do: func(r *http.Request) (*http.Response, error) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			return rec.Result(), nil
		},
		close: func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			accounts.Close()
		},
	}, nil
}

// call sends one request of the JSON API and decodes its answer into out
// (when not nil). An error answer becomes an error with its message.
func (a *admin) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://txxt"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		var e struct{ Code, Message string }
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			return errors.New(e.Message)
		}
		return fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// teamOpener opens a team's save file in the data directory dir and boots
// its engine with opts (its logger: logger, with the team's slug).
func teamOpener(dir string, logger *slog.Logger, opts engine.Options) server.TeamOpener {
	return func(slug string) (*engine.Engine, *store.Store, error) {
		log := logger.With("team", slug)
		st, err := openSaveFileLogged(store.TeamFile(dir, slug), log)
		if err != nil {
			return nil, nil, err
		}
		opts.Logger = log
		eng, err := engine.Open(st, opts)
		if err != nil {
			st.Close()
			return nil, nil, refused(fmt.Errorf("boot %s: %w", st.Path(), err))
		}
		return eng, st, nil
	}
}
