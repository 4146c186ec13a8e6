package main

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// fileReserve is the descriptors a server needs besides its connections
// and its teams' save files: the listeners, the accounts file, the admin
// socket, the runtime's own, a backup or an export being written.
const fileReserve = 64

// fileLimit raises the open files limit to what maxConns connections and
// teams save files need (maxConns < 0: no bound, the soft limit goes to
// the hard one), logs what it got, and warns when that is less than
// needed. It returns the limit (0 when it could not be read).
func fileLimit(logger *slog.Logger, maxConns, teams int) uint64 {
	need := uint64(fileReserve + teams)
	if maxConns > 0 {
		need += uint64(maxConns)
	}
	was, got, err := raiseFileLimit(need)
	if err != nil {
		logger.Debug("open files limit not read", "err", err)
		return 0
	}
	logger.Info("open files limit", "limit", got, "was", was)
	if maxConns > 0 && got < need {
		// A limit short by a few of the default 20,000 (a hard limit of
		// exactly 20,000 is common) is said, not warned about at every start.
		allowed := int64(got) - int64(fileReserve+teams)
		say := logger.Info
		if allowed < int64(maxConns)*9/10 {
			say = logger.Warn
		}
		say("the open files limit is below what --max-conns needs: past about that many connections, new ones wait until others close",
			"limit", got, "need", need, "connections", allowed,
			"fix", "raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) or lower --max-conns")
	}
	return got
}

// fdListener is the game's listener, which outlives a lack of descriptors:
// when accept fails because the process (EMFILE) or the system (ENFILE)
// has all the files open it may, the connection waiting stays in the
// kernel's queue, the listener says so in the log (once every
// fdLogEvery, with how many attempts failed since), waits, and tries
// again, so the server stays up and takes it as soon as a descriptor is
// free. Any other error ends Accept, as net/http expects. Accept is
// called by one goroutine (http.Server.Serve).
type fdListener struct {
	net.Listener
	logger *slog.Logger
	limit  uint64 // the open files limit, for the log (0: unknown)
	logged time.Time
	failed int // attempts since the last log line
}

const (
	fdLogEvery = 10 * time.Second
	fdWaitMax  = time.Second
)

func (l *fdListener) Accept() (net.Conn, error) {
	wait := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err == nil || !(errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
			return c, err
		}
		l.failed++
		if now := time.Now(); now.Sub(l.logged) >= fdLogEvery {
			who := "this process has"
			if errors.Is(err, syscall.ENFILE) {
				who = "the system has"
			}
			l.logger.Warn("cannot take new connections: "+who+" all the files open it may; they wait until a connection closes",
				"limit", l.limit, "attempts", l.failed, "fix", "raise the open files limit (ulimit -Hn, systemd LimitNOFILE=) or lower --max-conns")
			l.logged, l.failed = now, 0
		}
		time.Sleep(wait)
		wait = min(2*wait, fdWaitMax)
	}
}
