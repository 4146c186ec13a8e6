// @ts-check
// The game connection: txxt.v1 over one WebSocket, kept alive across
// drops. It owns the World copy's feed: Snapshot and events in, gaps
// detected, and every command answered exactly once (a command in flight
// when the socket drops is sent again with the same request id after the
// reconnect, which the server answers without applying it twice).

import { decodeServer, encodeClient, isEvent, SUBPROTOCOL, PROTOCOL_VERSION } from './codec.js';
import { Gap, percentile } from './model.js';

/** Close codes (docs/PROTOCOL.md). */
const SESSION_ENDED = 4002;
const RESYNC = 4000; // ours: the client saw a gap and starts over

export class Connection {
  /**
   * @param {object} o
   * @param {import('./model.js').World} o.world
   * @param {string} [o.url]  the game endpoint (default: this page's team's)
   * @param {string} [o.base]  the team base of every team route ('' or '/t/slug')
   * @param {object} o.on  callbacks: state(name, detail), welcome(w),
   *   snapshot(timing), changed(), presence(frame), telemetry(frame), server(frame),
   *   loggedOut(why), stale(why)
   */
  constructor({ world, url, base = '', on }) {
    this.world = world;
    this.base = base;
    this.url = url || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${base}/api/game`;
    this.on = on;
    // A new id per page: request ids restart at 1 with it, so a reload
    // can never be mistaken for a retry of the previous page's commands.
    this.client = crypto.randomUUID();
    this.request = 0;
    /** request id → {frame, resolve, reject, sent} */
    this.pending = new Map();
    this.attempt = 0;
    this.rtts = []; // ms, the last 100 command and ping round trips
    this.gaps = 0;
    this.stopped = false;
    this.ws = null;
    this.welcome = null;
    this.state = 'connecting';
    this.timers = [];
    this.pings = new Map(); // nonce → performance.now()
    this.nonce = 0;
    this.fps = 0;
  }

  start() {
    this.stopped = false;
    this.open();
    this.timers.push(setInterval(() => this.ping(), 5000));
    this.timers.push(setInterval(() => this.stats(), 10000));
  }

  stop() {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.retry);
    this.ws?.close(1000);
  }

  setState(s, detail = '') {
    this.state = s;
    this.on.state?.(s, detail);
  }

  open() {
    const q = new URLSearchParams({ client: this.client });
    if (this.world.loaded) q.set('since', String(this.world.revision));
    const ws = new WebSocket(`${this.url}?${q}`, SUBPROTOCOL);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.welcome = null;
    this.setState(this.attempt ? 'reconnecting' : 'connecting');
    ws.onmessage = (m) => this.receive(m.data);
    ws.onclose = (e) => this.closed(ws, e);
  }

  receive(data) {
    const t0 = performance.now();
    /** @type {any} */
    let f;
    try {
      f = decodeServer(data, true);
    } catch (err) {
      console.error('txxt: a frame that does not decode', err);
      return this.resync(`bad frame: ${err.message}`, true);
    }
    switch (f.type) {
      case 'Welcome':
        if (f.protocol !== PROTOCOL_VERSION) {
          this.stopped = true;
          this.ws.close(1000);
          return this.on.stale?.(`the server speaks protocol ${f.protocol}, this page ${PROTOCOL_VERSION}`);
        }
        this.welcome = f;
        this.attempt = 0;
        this.setState('live');
        this.on.welcome?.(f);
        for (const p of this.pending.values()) this.ws.send(p.frame); // retries, same ids
        return;
      case 'Snapshot':
        this.world.load(f);
        this.on.snapshot?.({ t0, decoded: performance.now(), bytes: data.byteLength, tasks: f.tasks.length });
        return this.on.changed?.();
      case 'Ack': return this.answer(f.request, null, f);
      case 'Error':
        if (f.request === 0) return console.warn('txxt: server error', f.code, f.message);
        return this.answer(f.request, f, null);
      case 'Presence': return this.on.presence?.(f);
      case 'Telemetry': return this.on.telemetry?.(f);
      case 'ServerState': return this.on.server?.(f);
      case 'Pong': {
        const t = this.pings.get(f.nonce);
        this.pings.delete(f.nonce);
        if (t !== undefined) this.sample(performance.now() - t);
        return;
      }
    }
    if (isEvent(f)) {
      try {
        this.world.apply(f);
      } catch (err) {
        if (err instanceof Gap) return this.resync(err.message, err.full);
        throw err;
      }
      this.on.changed?.();
    }
  }

  answer(request, err, ack) {
    const p = this.pending.get(request);
    if (!p) return;
    this.pending.delete(request);
    this.sample(performance.now() - p.sent);
    if (err) p.reject(Object.assign(new Error(err.message), { code: err.code }));
    else p.resolve(ack);
  }

  sample(ms) {
    this.rtts.push(ms);
    if (this.rtts.length > 100) this.rtts.shift();
  }

  /** Round trip p50 and p95 in ms over the last 100 samples. */
  rtt() { return { p50: percentile(this.rtts, 50), p95: percentile(this.rtts, 95) }; }

  // A gap: drop the socket and come back from the last revision we hold,
  // which gives exactly the missing events (or a Snapshot). A divergence
  // (an event about a task we do not have, a frame we cannot read) comes
  // back without it, for a fresh Snapshot.
  resync(why, full = false) {
    this.gaps++;
    if (full) this.world.loaded = false;
    console.warn('txxt: resyncing:', why);
    this.ws.onclose = null;
    this.ws.close(RESYNC, 'resync');
    this.setState('reconnecting', why);
    this.open();
  }

  closed(ws, e) {
    if (ws !== this.ws) return;
    if (this.stopped) return this.setState('offline');
    if (e.code === SESSION_ENDED) {
      this.stop();
      return this.on.loggedOut?.('your session ended');
    }
    this.attempt++;
    // Exponential backoff with full jitter: a crowd of clients dropped at
    // once by a restart does not come back at once.
    const cap = Math.min(15000, 250 * 2 ** Math.min(this.attempt, 10));
    const delay = this.attempt === 1 ? 100 + Math.random() * 400 : Math.random() * cap;
    this.setState('offline', `${e.code}${e.reason ? ' ' + e.reason : ''}: retrying in ${(delay / 1000).toFixed(1)} s`);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.reconnect(), delay);
  }

  async reconnect() {
    if (this.stopped) return;
    // The browser does not tell why an upgrade was refused; ask whether
    // the session still holds before trying again.
    if (!this.welcome) {
      try {
        const r = await fetch(`${this.base}/api/settings`, { credentials: 'same-origin' });
        if (r.status === 401) {
          this.stop();
          return this.on.loggedOut?.('your session ended');
        }
      } catch { /* the server is down: keep trying */ }
    }
    this.open();
  }

  /**
   * Sends a command; resolves with its Ack, rejects with an Error (its
   * code and message). Commands sent while offline wait and go out after
   * the next Welcome.
   */
  send(cmd) {
    const request = ++this.request;
    let frame;
    try {
      frame = encodeClient({ ...cmd, request }, true);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(request, { frame, resolve, reject, sent: performance.now() });
      if (this.welcome && this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
    });
  }

  ping() {
    if (!this.welcome || this.ws.readyState !== WebSocket.OPEN) return;
    const nonce = ++this.nonce >>> 0;
    this.pings.set(nonce, performance.now());
    if (this.pings.size > 10) this.pings.delete(this.pings.keys().next().value);
    this.ws.send(encodeClient({ type: 'Ping', nonce, clientTime: Date.now() }, true));
  }

  stats() {
    if (!this.welcome || this.ws.readyState !== WebSocket.OPEN || this.rtts.length === 0) return;
    const r = this.rtt();
    this.ws.send(encodeClient({ type: 'ClientStats', rttP50: Math.round(r.p50 * 1000), rttP95: Math.round(r.p95 * 1000), fps: Math.round(this.fps) }, true));
  }
}
