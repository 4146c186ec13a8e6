// @ts-check
// The txxt wire protocol, the browser's side: decode what the server sends,
// encode what the client sends. Byte for byte what docs/PROTOCOL.md says;
// test/codec.test.mjs checks it against the same golden vectors as the Go
// codec (wire/testdata/golden.json).
//
// Values: ids are lowercase UUID strings ("8-4-4-4-12"), revisions and
// times are Numbers (exact below 2^53), strings are UTF-8 with their zero
// padding stripped.

/** Frame types. */
export const T = Object.freeze({
  Snapshot: 0x01, TaskCreated: 0x02, TaskScheduled: 0x03, TaskMoved: 0x04,
  TaskUnscheduled: 0x05, TaskCompleted: 0x06, TaskDeleted: 0x07,
  TaskRenamed: 0x08, TaskPrioritized: 0x09, TaskAssigned: 0x0a, TaskStarted: 0x0b,
  TaskReopened: 0x0c, ServiceCreated: 0x0d, ServiceRenamed: 0x0e, GridChanged: 0x0f,
  UserCreated: 0x30, UserRenamed: 0x31, TaskServiceChanged: 0x32,
  ServiceRecolored: 0x33, ServiceArchived: 0x34, ScheduleChanged: 0x35,
  HolidayAdded: 0x36, HolidayRemoved: 0x37, TimeOffAdded: 0x38, TimeOffRemoved: 0x39,
  Welcome: 0xf0, Ack: 0xf1, Presence: 0xf2, Telemetry: 0xf3, ServerState: 0xf4, Pong: 0xf5, Error: 0xff,
  CreateTask: 0x10, ScheduleTask: 0x11, MoveTask: 0x12, UnscheduleTask: 0x13, CompleteTask: 0x14,
  DeleteTask: 0x15, CloneTask: 0x16, RenameTask: 0x17, SetPriority: 0x18, AssignTask: 0x19,
  StartTask: 0x1a, ReopenTask: 0x1b, CreateService: 0x1c, RenameService: 0x1d, SetGrid: 0x1e,
  SetService: 0x1f,
  Ping: 0x20, ClientStats: 0x21,
  RecolorService: 0x24, ArchiveService: 0x25, SetSchedule: 0x26,
  AddHoliday: 0x27, RemoveHoliday: 0x28, AddTimeOff: 0x29, RemoveTimeOff: 0x2a,
});

const NAMES = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k]));

/** The subprotocol of the extended protocol, and its version in Welcome. */
export const SUBPROTOCOL = 'txxt.v1';
export const PROTOCOL_VERSION = 4;
/** The date of a task without a slot. */
export const NO_DATE = 0xffff;
export const DEFAULT_GRID = 5;
/** The schedule of a world that never set one (and of snapshots from before it could). */
/** workingDays: a bit a weekday, bit 0 Monday … bit 6 Sunday. */
/** @type {Readonly<{workdayStart: number, workdayEnd: number, firstDay: number, timeZone: string, workingDays: number}>} */
export const DEFAULT_SCHEDULE = Object.freeze({ workdayStart: 480, workdayEnd: 1080, firstDay: 0, timeZone: 'UTC', workingDays: 0x1f });

const TASK = 192, NAMED = 80, TITLE = 128, NAME = 64, ZONE = 64;
const SCHEDULE = 6 + ZONE; // workday_start u16 · workday_end u16 · first_day u8 · time_zone 64 · working_days u8
const OLD_SCHEDULE = 5 + ZONE; // before protocol 4: no working days (Monday to Friday)
const SERVICE_STATE = 5; // the snapshot trailer, per service: color u32 · archived u8
const HOLIDAY = 2 + NAME; // date u16 · name 64
const TIME_OFF = 36 + NAME; // id · user · from u16 · to u16 · note 64
const utf8in = new TextDecoder('utf-8');
const utf8out = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A frame that does not decode. */
export class FrameError extends Error {}

function need(b, n, what) {
  if (b.length < n) throw new FrameError(`${what}: ${b.length} bytes, need ${n}`);
}
function exactly(b, n, what) {
  if (b.length !== n) throw new FrameError(`${what} is ${n} bytes, got ${b.length}`);
}

function id(b, o) {
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[b[o + i]];
  }
  return s;
}

function putID(b, o, s) {
  const h = (s || '').replaceAll('-', '');
  if (h === '') return; // zero id
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new FrameError(`not a UUID: ${s}`);
  for (let i = 0; i < 16; i++) b[o + i] = parseInt(h.substr(2 * i, 2), 16);
}

/** The zero id: "none" (an unassigned task). */
export const ZERO_ID = '00000000-0000-0000-0000-000000000000';

// text reads a zero-padded UTF-8 field.
function text(b, o, n) {
  let end = o + n;
  while (end > o && b[end - 1] === 0) end--;
  return utf8in.decode(b.subarray(o, end));
}

const u16 = (b, o) => b[o] | (b[o + 1] << 8);
const u32 = (b, o) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x1000000;
const u64 = (b, o) => u32(b, o) + u32(b, o + 4) * 0x100000000;

function task(b, o, v1) {
  return {
    id: id(b, o), status: b[o + 16], priority: b[o + 17],
    date: u16(b, o + 18), start: u16(b, o + 20), duration: u16(b, o + 22),
    service: id(b, o + 24), assignee: id(b, o + 40), title: text(b, o + 56, TITLE),
    created: v1 ? u64(b, o + 184) : 0,
  };
}

const named = (b, o) => ({ id: id(b, o), name: text(b, o + 16, NAME) });

function flag(b, o, what) {
  if (b[o] > 1) throw new FrameError(`${what}: byte ${b[o]} is not 0 or 1`);
  return b[o] === 1;
}

/** A schedule of `size` bytes: SCHEDULE, or OLD_SCHEDULE (Monday to Friday). */
const schedule = (b, o, size = SCHEDULE) => ({
  workdayStart: u16(b, o), workdayEnd: u16(b, o + 2), firstDay: b[o + 4], timeZone: text(b, o + 5, ZONE),
  workingDays: size === SCHEDULE ? b[o + OLD_SCHEDULE] : DEFAULT_SCHEDULE.workingDays,
});
const timeOff = (b, o) => ({ id: id(b, o), user: id(b, o + 16), from: u16(b, o + 32), to: u16(b, o + 34), note: text(b, o + 36, NAME) });

// The Snapshot's second trailer (protocol 3), after the schedule, only when
// the team has non-working days: holiday_count u32 · time_off_count u32 ·
// holidays (date u16 · name 64) · time offs (id · user · from u16 · to u16 · note 64).
function nonWorking(b, o, out) {
  if (b.length === o) return;
  need(b, o + 8, 'Snapshot non-working days');
  const nh = u32(b, o), nt = u32(b, o + 4);
  if (nh === 0 && nt === 0) throw new FrameError('Snapshot non-working days trailer holds nothing: it is left out then');
  exactly(b, o + 8 + nh * HOLIDAY + nt * TIME_OFF, 'Snapshot');
  o += 8;
  for (let i = 0; i < nh; i++, o += HOLIDAY) out.holidays.push({ date: u16(b, o), name: text(b, o + 2, NAME) });
  for (let i = 0; i < nt; i++, o += TIME_OFF) out.timeOff.push(timeOff(b, o));
}

// A Snapshot is one of three layouts: the original (nothing after the
// services), v1 from before the trailer (users and grid, then nothing: old
// save files), or v1 (then each service's colour and archive, and the
// schedule: 70 bytes, or 69 from before working days, told apart by the
// parity of what follows the colours, as the non-working days after the
// schedule are an even number of bytes). Anything between is an error.
function snapshot(b, v1) {
  need(b, 17, 'Snapshot');
  const nt = u32(b, 9), ns = u32(b, 13);
  const end = 17 + nt * TASK + ns * NAMED;
  need(b, end, 'Snapshot');
  const out = {
    type: 'Snapshot', revision: u64(b, 1), tasks: new Array(nt), services: new Array(ns), users: [], grid: DEFAULT_GRID,
    schedule: { ...DEFAULT_SCHEDULE }, holidays: [], timeOff: [],
  };
  for (let i = 0, o = 17; i < nt; i++, o += TASK) out.tasks[i] = task(b, o, v1);
  for (let i = 0, o = 17 + nt * TASK; i < ns; i++, o += NAMED) out.services[i] = { ...named(b, o), color: 0, archived: false };
  if (v1 && b.length > end) {
    need(b, end + 6, 'Snapshot users');
    const nu = u32(b, end);
    out.grid = u16(b, end + 4);
    const users = end + 6 + nu * NAMED;
    if (b.length !== users) need(b, users + SERVICE_STATE * ns + OLD_SCHEDULE, 'Snapshot');
    for (let i = 0, o = end + 6; i < nu; i++, o += NAMED) out.users.push(named(b, o));
    if (b.length > users) {
      for (let i = 0, o = users; i < ns; i++, o += SERVICE_STATE) {
        out.services[i].color = u32(b, o);
        out.services[i].archived = flag(b, o + 4, 'Snapshot service archived');
      }
      const at = users + SERVICE_STATE * ns, size = (b.length - at) % 2 === 1 ? OLD_SCHEDULE : SCHEDULE;
      need(b, at + size, 'Snapshot');
      out.schedule = schedule(b, at, size);
      nonWorking(b, at + size, out);
    }
  } else {
    exactly(b, end, 'Snapshot');
  }
  return out;
}

/** @type {Set<number>} the frame types the original protocol sends */
const V0_SERVER = new Set([T.Snapshot, T.TaskCreated, T.TaskScheduled, T.TaskMoved, T.TaskUnscheduled, T.TaskCompleted, T.TaskDeleted]);

/**
 * Decodes one frame from the server. v1: the connection speaks txxt.v1.
 * @param {Uint8Array|ArrayBuffer} frame
 * @param {boolean} v1
 */
export function decodeServer(frame, v1) {
  const b = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  need(b, 1, 'frame');
  const t = b[0], type = NAMES[t];
  if (type === undefined || (!v1 && !V0_SERVER.has(t))) throw new FrameError(`unknown frame type 0x${HEX[t]}`);
  const ev = (n) => { exactly(b, n, type); return { type, revision: u64(b, 1) }; };
  switch (t) {
    case T.Snapshot: return snapshot(b, v1);
    case T.TaskCreated: return { ...ev(9 + TASK), task: task(b, 9, v1) };
    case T.TaskScheduled: case T.TaskMoved:
      return { ...ev(31), id: id(b, 9), date: u16(b, 25), start: u16(b, 27), duration: u16(b, 29) };
    case T.TaskUnscheduled: case T.TaskCompleted: case T.TaskDeleted: case T.TaskStarted: case T.TaskReopened:
      return { ...ev(25), id: id(b, 9) };
    case T.TaskRenamed: return { ...ev(25 + TITLE), id: id(b, 9), title: text(b, 25, TITLE) };
    case T.TaskPrioritized: return { ...ev(26), id: id(b, 9), priority: b[25] };
    case T.TaskAssigned: return { ...ev(41), id: id(b, 9), assignee: id(b, 25) };
    case T.TaskServiceChanged: return { ...ev(41), id: id(b, 9), service: id(b, 25) };
    case T.ServiceCreated: case T.ServiceRenamed: return { ...ev(9 + NAMED), service: named(b, 9) };
    case T.UserCreated: case T.UserRenamed: return { ...ev(9 + NAMED), user: named(b, 9) };
    case T.GridChanged: return { ...ev(11), grid: u16(b, 9) };
    case T.ServiceRecolored: return { ...ev(29), id: id(b, 9), color: u32(b, 25) };
    case T.ServiceArchived: return { ...ev(26), id: id(b, 9), archived: flag(b, 25, type) };
    case T.ScheduleChanged: {
      const size = b.length === 9 + OLD_SCHEDULE ? OLD_SCHEDULE : SCHEDULE; // 78 bytes: written before working days
      return { ...ev(9 + size), schedule: schedule(b, 9, size) };
    }
    case T.HolidayAdded: return { ...ev(9 + HOLIDAY), date: u16(b, 9), name: text(b, 11, NAME) };
    case T.HolidayRemoved: return { ...ev(11), date: u16(b, 9) };
    case T.TimeOffAdded: return { ...ev(9 + TIME_OFF), timeOff: timeOff(b, 9) };
    case T.TimeOffRemoved: return { ...ev(41), id: id(b, 9), user: id(b, 25) };
    case T.Welcome:
      need(b, 145, 'Welcome');
      return {
        type, protocol: u16(b, 1), flags: u16(b, 3), serverTime: u64(b, 5), grid: u16(b, 13), role: b[15],
        session: id(b, 17), user: id(b, 33), client: id(b, 49), serverVersion: text(b, 65, 16),
        userName: text(b, 81, NAME), profile: utf8in.decode(b.subarray(145)),
      };
    case T.Ack: exactly(b, 13, type); return { type, request: u32(b, 1), revision: u64(b, 5) };
    case T.Error: need(b, 7, type); return { type, request: u32(b, 1), code: u16(b, 5), message: utf8in.decode(b.subarray(7)) };
    case T.Presence: {
      need(b, 4, type);
      const n = u16(b, 2);
      exactly(b, 4 + 32 * n, type);
      const entries = [];
      for (let i = 0, o = 4; i < n; i++, o += 32) entries.push({ session: id(b, o), user: id(b, o + 16) });
      return { type, op: b[1], entries };
    }
    case T.Telemetry: {
      need(b, 14, type);
      const n = b[13];
      exactly(b, 14 + 21 * n, type);
      const stages = [];
      for (let i = 0, o = 14; i < n; i++, o += 21) {
        stages.push({ stage: b[o], samples: u32(b, o + 1), p50: u32(b, o + 5), p95: u32(b, o + 9), p99: u32(b, o + 13), max: u32(b, o + 17) });
      }
      return { type, serverTime: u64(b, 1), windowMs: u32(b, 9), stages };
    }
    case T.ServerState: need(b, 2, type); return { type, state: b[1], reason: utf8in.decode(b.subarray(2)) };
    case T.Pong: exactly(b, 21, type); return { type, nonce: u32(b, 1), clientTime: u64(b, 5), serverTime: u64(b, 13) };
  }
  throw new FrameError(`0x${HEX[t]} is not a server frame`);
}

/** Whether a decoded frame is an event (it carries a revision). */
export const isEvent = (f) => f.type !== 'Snapshot' && 'revision' in f && f.type !== 'Ack';

// Writer: a little-endian byte builder.
class W {
  constructor() { this.a = []; }
  u8(v) { this.a.push(v & 0xff); return this; }
  u16(v) { return this.u8(v).u8(v >>> 8); }
  u32(v) { return this.u16(v & 0xffff).u16(Math.floor(v / 0x10000)); }
  u64(v) { return this.u32(v % 0x100000000).u32(Math.floor(v / 0x100000000)); }
  id(s) { const b = new Uint8Array(16); putID(b, 0, s); this.a.push(...b); return this; }
  text(s) { this.a.push(...utf8out.encode(s || '')); return this; }
  bytes() { return Uint8Array.from(this.a); }
}

const V0_CLIENT = new Set([T.CreateTask, T.ScheduleTask, T.MoveTask, T.UnscheduleTask, T.CompleteTask, T.DeleteTask]);
const CLIENT = new Set([...Object.values(T)].filter((t) => (t >= T.CreateTask && t <= T.ClientStats) || (t >= T.RecolorService && t <= T.RemoveTimeOff)));

/**
 * Encodes a command (its fields as decodeServer-style names: task, source,
 * service, assignee, date, start, duration, priority, grid, text, color,
 * archived, workdayStart, workdayEnd, firstDay, timeZone; for non-working
 * days date, name, id, user, from, to, note) with its request
 * id (v1 only), or a Ping / ClientStats.
 * @param {object} c  {type, request, ...}
 * @param {boolean} v1
 * @returns {Uint8Array}
 */
export function encodeClient(c, v1) {
  const t = T[c.type];
  if (!CLIENT.has(t)) throw new FrameError(`not a client frame: ${c.type}`);
  if (!v1 && !V0_CLIENT.has(t)) throw new FrameError(`${c.type} is not in the original protocol`);
  const w = new W().u8(t);
  if (t === T.Ping) return w.u32(c.nonce).u64(c.clientTime).bytes();
  if (t === T.ClientStats) return w.u32(c.rttP50).u32(c.rttP95).u16(c.fps).bytes();
  if (v1) w.u32(c.request >>> 0);
  const slot = () => w.u16(c.date).u16(c.start).u16(c.duration);
  switch (t) {
    case T.CreateTask: w.u8(c.priority).id(c.service).id(c.assignee); slot(); return w.text(c.text).bytes();
    case T.CloneTask: w.id(c.source); slot(); return w.bytes();
    case T.CreateService: return w.text(c.text).bytes();
    case T.RenameService: return w.id(c.service).text(c.text).bytes();
    case T.SetGrid: return w.u16(c.grid).bytes();
    case T.RecolorService: return w.id(c.service).u32(c.color >>> 0).bytes();
    case T.ArchiveService: return w.id(c.service).u8(c.archived ? 1 : 0).bytes();
    case T.SetSchedule: // working days (protocol 4) after a NUL; none: the world's are kept
      w.u16(c.workdayStart).u16(c.workdayEnd).u8(c.firstDay).text(c.timeZone);
      return (c.workingDays ? w.u8(0).u8(c.workingDays) : w).bytes();
    case T.AddHoliday: return w.u16(c.date).text(c.name).bytes();
    case T.RemoveHoliday: return w.u16(c.date).bytes();
    case T.AddTimeOff: return w.id(c.user).u16(c.from).u16(c.to).text(c.note).bytes();
    case T.RemoveTimeOff: return w.id(c.id).id(c.user).bytes();
  }
  w.id(c.task);
  switch (t) {
    case T.ScheduleTask: case T.MoveTask: slot(); break;
    case T.RenameTask: w.text(c.text); break;
    case T.SetPriority: w.u8(c.priority); break;
    case T.AssignTask: w.id(c.assignee); break;
    case T.SetService: w.id(c.service); break;
  }
  return w.bytes();
}
