package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// raiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit, and the
// hard one to need when it is below and the process may raise it (root):
// N readers are N sockets on each side. Calling Setrlimit ourselves (Go
// raises the soft limit at start on its own, but then restores the
// original for the processes it starts) makes the servers we start
// inherit it too.
func raiseFileLimit(need uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Max < need && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: need, Max: need}) == nil {
		return need, nil
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	return l.Cur, nil
}

// child is a server running as its own process, so that its CPU and
// memory can be read from /proc apart from the load generator's.
type child struct {
	cmd    *exec.Cmd
	url    string   // http://host:port it serves
	urls   []string // what each of the patterns it was started with matched
	stderr *tailBuffer
}

// startChild starts argv and waits until lines of its stdout have matched
// every one of patterns, in order (the first group of each is kept in
// urls; the first one's is url). The child is killed when ctx ends
// before that, and by the kernel if this process dies first.
func startChild(ctx context.Context, env []string, patterns []*regexp.Regexp, argv ...string) (*child, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stderr: &tailBuffer{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	found := make(chan []string, 1)
	go func() {
		var urls []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if len(urls) < len(patterns) {
				if m := patterns[len(urls)].FindStringSubmatch(sc.Text()); m != nil {
					urls = append(urls, m[1])
					if len(urls) == len(patterns) {
						found <- urls
					}
				}
			}
		}
		io.Copy(io.Discard, out)
	}()
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case u := <-found:
		c.urls, c.url = u, u[0]
		return c, nil
	case <-wait.Done():
		c.stop()
		return nil, fmt.Errorf("%s printed no address within 30 s: %s", argv[0], c.stderr)
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// interrupt asks the child to shut down (SIGINT) and reaps it, killing
// it if it takes over 10 s.
func (c *child) interrupt() {
	c.cmd.Process.Signal(os.Interrupt)
	t := time.AfterFunc(10*time.Second, func() { c.cmd.Process.Kill() })
	c.cmd.Wait()
	t.Stop()
}

// stop kills the child and reaps it.
func (c *child) stop() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// cpuTime is the process's user + system time so far, all threads,
// from /proc/PID/stat (clock ticks, usually 10 ms each).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime or stime", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// clockTicks is sysconf(_SC_CLK_TCK), 100 on every Linux Go supports.
const clockTicks = 100

// rss is the process's resident set size, from /proc/PID/status.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// tailBuffer keeps the last few KiB a child wrote to stderr, for errors.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
