package server

import (
	"context"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
)

// finish writes the events and answers already due, then closes with the
// kill's code. The writer has the socket corked.
func (c *conn) finish(ctx context.Context, sub *engine.Subscription) {
	if c.closeCode == websocket.StatusNormalClosure {
		return // the peer went away: nothing to say
	}
	c.batch = c.answers.take(c.batch[:0]) // before catching up, as in write
	if _, ok := c.catchUp(ctx, sub); !ok || !c.writeAnswers() || !c.flush() {
		return
	}
	c.close(c.closeCode, c.closeWhy)
}

// closeWait bounds how long a connection waits for the client's answer to
// its close frame before it counts as ended.
const closeWait = time.Second

// close sends a close frame and waits up to closeWait for the client's
// answer. A client that does not answer (it stalled, or it is gone) is left
// to the library, which drops the socket 5 s after the close frame: the
// connection is over for the server already.
func (c *conn) close(code websocket.StatusCode, why string) {
	c.closing = true
	done := make(chan struct{})
	go func() {
		c.ws.Close(code, why)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
	}
}
