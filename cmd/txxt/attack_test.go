package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A short run of one attack against the real binary (the server and the
// attacker are both child processes): every command acknowledged, the
// bystander's and the attacker's, is at its revision in the save file
// afterwards. Its figures depend on the machine; only the loss is checked.
func TestAttackLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	args := []string{"load", "attack", "--kind", "tasks", "--duration", "2s"}
	go func() { done <- run(ctx, args, env(nil), strings.NewReader(""), &out, &errb) }()
	if err := recv(t, done, 2*time.Minute+30*time.Second, "txxt load attack --kind tasks to end"); err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	m := regexp.MustCompile(`(?m)^tasks .*\((\d+) answered, \d+ refused\), acknowledged (\d+), lost (\d+); attacker: .*accepted (\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no row for the attack in:\n%s", out.String())
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	answered, acked, lost, accepted := n(m[1]), n(m[2]), n(m[3]), n(m[4])
	if answered == 0 || accepted == 0 {
		t.Fatalf("nothing to check: the bystander had %d answers, the attacker %d acknowledged:\n%s", answered, accepted, out.String())
	}
	if lost != 0 || acked < accepted {
		t.Fatalf("%d of %d acknowledged commands lost:\n%s", lost, acked, out.String())
	}
	t.Logf("%d acknowledged commands (the attacker's %d), none lost", acked, accepted)
}
