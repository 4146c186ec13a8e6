package main

import (
	"fmt"
	"slices"
	"time"
)

// figQuantiles formats the min, p50, p90 and max of d ("none" when empty).
func figQuantiles(d []time.Duration) string {
	if len(d) == 0 {
		return "none"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[int(q*float64(len(s)-1))].Round(time.Millisecond) }
	return fmt.Sprintf("min %s, p50 %s, p90 %s, max %s (%d)", at(0), at(0.5), at(0.9), at(1), len(s))
}

// figProbe writes one command named prefix-N on url on a new connection
// each time (a connection closed with 1001 as the world moves, or a
// command refused, and it tries again) until one is accepted, and returns
// when; it gives up at deadline with the last error.
func figProbe(url, token, prefix string, deadline time.Time, ack func(acked)) (time.Time, error) {
	for n := 1; ; n++ {
		err := writeUntil(url, token, fmt.Sprintf("%s-%d", prefix, n), ack)
		if err == nil {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no command accepted on %s by the deadline: %w", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
