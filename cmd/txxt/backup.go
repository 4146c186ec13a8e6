package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"txxt/engine"
	"txxt/lab"
	"txxt/store"
)

// exitDamaged is the exit status when a save file is refused: damaged, not
// a save file, or written by a newer txxt.
const exitDamaged exitCode = 4

// exitError is an error with the exit status it asks for.
type exitError struct {
	err  error
	code exitCode
}

func (e exitError) Error() string   { return e.err.Error() }
func (e exitError) Unwrap() []error { return []error{e.err, e.code} }

// refused marks err with exitDamaged when it says the file cannot be trusted.
func refused(err error) error {
	if errors.Is(err, store.ErrDamaged) || errors.Is(err, store.ErrNotSaveFile) || errors.Is(err, store.ErrVersion) {
		return exitError{fmt.Errorf("%w; the file was left as it is: run txxt check on it to see what is wrong, or restore a backup", err), exitDamaged}
	}
	return err
}

// openSaveFile opens the save file at path for the subcommands.
func openSaveFile(path string) (*store.Store, error) {
	return openSaveFileLogged(path, nil)
}

// openSaveFileLogged is openSaveFile with the store's logger (nil: none).
func openSaveFileLogged(path string, logger *slog.Logger) (*store.Store, error) {
	st, err := store.Open(path, store.Options{Timeout: time.Second, Logger: logger})
	if err != nil {
		return nil, refused(fmt.Errorf("open save file %s: %w", path, err))
	}
	return st, nil
}

// openExisting opens a save file that must exist: looking at, checking or
// copying a file must never create one. A missing file is an error with
// exit status 1 that says so in those words.
func openExisting(path string) (*store.Store, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no save file at %s", path)
	} else if err != nil {
		return nil, err
	}
	return openSaveFile(path)
}

// openToCheck is openExisting for reading alone: a write-ahead file a
// crash left beside the file is not copied into it (the server does that
// at its next start).
func openToCheck(path string) (*store.Store, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no save file at %s", path)
	}
	st, err := store.Open(path, store.Options{Timeout: time.Second, NoWAL: true})
	if err != nil {
		return nil, refused(fmt.Errorf("open save file %s: %w", path, err))
	}
	return st, nil
}

const checkUsage = `Usage: txxt check [FILE]

Verifies a save file (FILE, else --data, TXXT_SAVE_FILE or ./txxt.db): every
page reads back, every log record and snapshot matches its checksum, the log
has no hole, every snapshot decodes, and replaying the log reaches every
later snapshot's world exactly. It changes nothing (a write-ahead file
beside it, FILE.wal, which a server that did not stop cleanly leaves, is
named, not read). Exit status 0: sound;
4: damaged (the message says where). A file a running server holds is
locked: check a backup of it instead.
`

func runCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := saveFileFlag(fs, getenv)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return exitCode(2)
	}
	path := *data
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	st, err := openToCheck(path)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := engine.Verify(st)
	if err != nil {
		return refused(fmt.Errorf("check %s: %w", path, err))
	}
	printVerified(stdout, path, v)
	if _, err := os.Stat(store.WALPath(path)); err == nil {
		fmt.Fprintf(stdout, "write-ahead file: %s is beside it, left by a server that did not stop cleanly; its changes are not checked here: the server copies them into the save file at its next start\n", store.WALPath(path))
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

func printVerified(w io.Writer, path string, v engine.Verified) {
	fi, _ := os.Stat(path)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	from := "an empty world"
	if v.From > 0 {
		from = fmt.Sprint("the snapshot at ", v.From)
	}
	var tables []string
	for _, name := range []string{"users", "sessions", "settings", "profiles"} {
		tables = append(tables, fmt.Sprint(name, " ", v.Tables[name]))
	}
	fmt.Fprintf(w, "save file  %s (%d bytes, %d pages)\n", path, size, v.Pages)
	if v.Records > 0 {
		fmt.Fprintf(w, "log        revisions %d to %d (%d records, checksums ok)\n", v.FirstRevision, v.LastRevision, v.Records)
	} else {
		fmt.Fprintln(w, "log        empty")
	}
	fmt.Fprintf(w, "snapshots  %v\n", v.Snapshots)
	fmt.Fprintf(w, "replay     from %s, %d records, matches the snapshots at %v\n", from, v.Replayed, v.Matched)
	fmt.Fprintf(w, "world      revision %d: %d tasks, %d services, %d users\n", v.Revision, v.Tasks, v.Services, v.Users)
	fmt.Fprintf(w, "tables     %s\n", strings.Join(tables, ", "))
}

const backupUsage = `Usage: txxt backup --url URL --user NAME OUT
       txxt backup --data FILE OUT

Takes a consistent copy of a save file as of one moment and writes it to OUT,
then verifies the copy as txxt check does. With --url, from a running server
(GET /api/backup, admins only; the password is read from standard input, or
TXXT_PASSWORD); with --data, from a save file no server holds. OUT is written
beside itself first and renamed into place only once verified. To restore,
stop the server and serve the copy (txxt serve --data OUT), or put it in
place of the save file.
`

func runBackup(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", getenv("TXXT_URL"), "the server, e.g. http://127.0.0.1:8080 (env TXXT_URL)")
	user := fs.String("user", getenv("TXXT_USER"), "an admin's login name, with --url (env TXXT_USER)")
	data := fs.String("data", "", "copy this save file instead (no server may hold it)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 || (*url == "") == (*data == "") {
		fs.Usage()
		return exitCode(2)
	}
	out := fs.Arg(0)
	partial := out + ".partial"
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(partial) // gone once renamed; removes what a failure left
	defer f.Close()
	if *data != "" {
		err = copyFile(f, *data)
	} else {
		err = download(ctx, f, strings.TrimRight(*url, "/"), *user, getenv("TXXT_PASSWORD"), stdin)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	st, err := openSaveFile(partial)
	if err != nil {
		return fmt.Errorf("backup: the copy does not open: %w", err)
	}
	v, err := engine.Verify(st)
	st.Close()
	if err != nil {
		return refused(fmt.Errorf("backup: the copy does not verify: %w", err))
	}
	if err := os.Rename(partial, out); err != nil {
		return err
	}
	printVerified(stdout, out, v)
	fmt.Fprintf(stdout, "backup of revision %d written to %s and verified\n", v.Revision, out)
	return nil
}

func copyFile(f *os.File, path string) error {
	st, err := openExisting(path)
	if err != nil {
		return err
	}
	defer st.Close()
	_, _, err = st.Backup(f)
	return err
}

func download(ctx context.Context, f *os.File, base, user, password string, stdin io.Reader) error {
	if user == "" {
		return errors.New("--user: an admin's name is needed to log in")
	}
	if password == "" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("no password on standard input (or in TXXT_PASSWORD)")
		}
		password = strings.TrimRight(line, "\r\n")
	}
	login, err := lab.Login(ctx, base, user, password)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/backup", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+login.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return apiFailure(res)
	}
	n, err := io.Copy(f, res.Body)
	if err == nil && res.ContentLength >= 0 && n != res.ContentLength {
		err = fmt.Errorf("the server sent %d of %d bytes", n, res.ContentLength)
	}
	// Log out: the token is not needed again.
	if req, rerr := http.NewRequestWithContext(ctx, "POST", base+"/api/auth/logout", nil); rerr == nil {
		req.Header.Set("Authorization", "Bearer "+login.Token)
		if res, rerr := http.DefaultClient.Do(req); rerr == nil {
			res.Body.Close()
		}
	}
	return err
}

func apiFailure(res *http.Response) error {
	var e struct{ Code, Message string }
	json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&e)
	if e.Code == "" {
		return fmt.Errorf("%s", res.Status)
	}
	return fmt.Errorf("%s: %s (%s)", res.Status, e.Message, e.Code)
}
