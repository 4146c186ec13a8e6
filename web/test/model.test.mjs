// The client's world copy and its calendar arithmetic.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  World, Gap, Status, weekStart, dayOfWeek, nowIn, stepFor, snap, initials, percentile,
  ViewState, matches, dragSlot, createSlot, TimeAxis, cascadeDay, CASCADE, dayLoad, personRows, hours,
  zoneOffset, clocksDiffer, dateOf,
} from '../js/model.js';
import { NO_DATE, DEFAULT_SCHEDULE, decodeServer } from '../js/codec.js';
import { readFileSync } from 'node:fs';

const ID = (n) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;
const task = (n, over = {}) => ({ id: ID(n), status: Status.Scheduled, priority: 1, date: 20000, start: 540, duration: 60, service: ID(900), assignee: ID(0), title: `t${n}`, created: n, ...over });

function loaded() {
  const w = new World();
  w.load({ revision: 10, tasks: [task(1), task(2, { status: Status.Staged, date: NO_DATE, start: 0, duration: 0 })], services: [{ id: ID(900), name: 'Ops' }], users: [{ id: ID(800), name: 'Ada Lovelace' }], grid: 5 });
  return w;
}

test('a snapshot replaces everything', () => {
  const w = loaded();
  assert.equal(w.revision, 10);
  assert.equal(w.tasks.size, 2);
  assert.deepEqual(w.services.get(ID(900)), { id: ID(900), name: 'Ops', color: 0, archived: false });
  assert.deepEqual(w.schedule, DEFAULT_SCHEDULE, 'a snapshot without a schedule has the default one');
  assert.equal(w.users.get(ID(800)), 'Ada Lovelace');
  w.load({ revision: 3, tasks: [], services: [], users: [], grid: 15 });
  assert.deepEqual([w.revision, w.tasks.size, w.grid], [3, 0, 15]);
});

test('every event changes the copy as the server did', () => {
  const w = loaded();
  let rev = 10;
  const ev = (e) => { w.apply({ revision: ++rev, ...e }); return w.tasks.get(e.id); };
  assert.equal(ev({ type: 'TaskMoved', id: ID(1), date: 20001, start: 600, duration: 30 }).start, 600);
  assert.equal(ev({ type: 'TaskStarted', id: ID(1) }).status, Status.Active);
  assert.equal(ev({ type: 'TaskCompleted', id: ID(1) }).status, Status.Completed);
  assert.equal(ev({ type: 'TaskReopened', id: ID(1) }).status, Status.Scheduled);
  const u = ev({ type: 'TaskUnscheduled', id: ID(1) });
  assert.deepEqual([u.status, u.date, u.start, u.duration], [Status.Staged, NO_DATE, 0, 0]);
  assert.equal(ev({ type: 'TaskScheduled', id: ID(1), date: 20002, start: 60, duration: 5 }).status, Status.Scheduled);
  assert.equal(ev({ type: 'TaskRenamed', id: ID(1), title: 'x' }).title, 'x');
  assert.equal(ev({ type: 'TaskPrioritized', id: ID(1), priority: 3 }).priority, 3);
  assert.equal(ev({ type: 'TaskAssigned', id: ID(1), assignee: ID(800) }).assignee, ID(800));
  assert.equal(ev({ type: 'TaskServiceChanged', id: ID(1), service: ID(901) }).service, ID(901));
  w.apply({ revision: ++rev, type: 'TaskCreated', task: task(3) });
  assert.equal(w.createdAt(rev), ID(3));
  w.apply({ revision: ++rev, type: 'TaskDeleted', id: ID(3) });
  assert.equal(w.tasks.has(ID(3)), false);
  w.apply({ revision: ++rev, type: 'ServiceRenamed', service: { id: ID(900), name: 'Operations' } });
  w.apply({ revision: ++rev, type: 'UserCreated', user: { id: ID(801), name: 'Grace' } });
  w.apply({ revision: ++rev, type: 'GridChanged', grid: 15 });
  assert.deepEqual([w.serviceName(ID(900)), w.users.get(ID(801)), w.grid, w.revision], ['Operations', 'Grace', 15, rev]);
});

test('a missing revision is a resumable gap; a divergence needs a snapshot', () => {
  const w = loaded();
  assert.throws(() => w.apply({ revision: 12, type: 'TaskCompleted', id: ID(1) }), (e) => e instanceof Gap && !e.full);
  assert.throws(() => w.apply({ revision: 10, type: 'TaskCompleted', id: ID(1) }), (e) => e instanceof Gap && e.full);
  assert.throws(() => w.apply({ revision: 11, type: 'TaskCompleted', id: ID(7) }), (e) => e instanceof Gap && e.full);
  assert.equal(w.revision, 10, 'nothing applied');
  assert.equal(w.tasks.get(ID(1)).status, Status.Scheduled);
});

test('the staging queue: Urgent first, then oldest first', () => {
  const w = new World();
  w.load({ revision: 1, services: [], users: [], grid: 5, tasks: [
    task(1, { status: 0, priority: 1, created: 5 }), task(2, { status: 0, priority: 3, created: 9 }),
    task(3, { status: 0, priority: 1, created: 2 }), task(4, { status: 1, priority: 3 }),
  ] });
  assert.deepEqual(w.staged().map((t) => t.title), ['t2', 't3', 't1']);
});

test('calendar arithmetic', () => {
  assert.equal(dayOfWeek(0), 3, '1970-01-01 was a Thursday');
  const thu = 20419; // 2025-11-27, a Thursday
  assert.equal(dayOfWeek(thu), 3);
  assert.equal(weekStart(thu, 0), thu - 3, 'Monday');
  assert.equal(weekStart(thu, 6), thu - 4, 'Sunday');
  assert.equal(weekStart(thu, 3), thu);
  const noon = Date.UTC(2025, 10, 27, 12, 30);
  assert.deepEqual(nowIn('UTC', noon), { date: thu, minute: 750 });
  assert.deepEqual(nowIn('Asia/Tokyo', noon), { date: thu, minute: 21 * 60 + 30 });
  assert.deepEqual(nowIn('Pacific/Kiritimati', Date.UTC(2025, 10, 27, 12)), { date: thu + 1, minute: 120 });
  assert.deepEqual(nowIn('Not/AZone', noon), { date: thu, minute: 750 }, 'an unknown zone falls back to UTC');
  assert.equal(stepFor(30, 5), 30);
  assert.equal(stepFor(5, 15), 15);
  assert.equal(stepFor(30, 20), 60);
  assert.equal(snap(912, 30), 900);
  assert.equal(initials('Ada Lovelace'), 'AL');
  assert.equal(initials('demo'), 'DE');
  assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
  assert.equal(percentile([], 95), 0);
});

test('services carry their colour and archive; the schedule is the world\'s', () => {
  const w = loaded();
  let rev = 10;
  const ev = (e) => w.apply({ revision: ++rev, ...e });
  ev({ type: 'ServiceRecolored', id: ID(900), color: 0x3b82f6 });
  ev({ type: 'ServiceArchived', id: ID(900), archived: true });
  ev({ type: 'ServiceRenamed', service: { id: ID(900), name: 'Ops (old)' } });
  assert.deepEqual(w.services.get(ID(900)), { id: ID(900), name: 'Ops (old)', color: 0x3b82f6, archived: true }, 'a rename keeps colour and archive');
  ev({ type: 'ServiceCreated', service: { id: ID(901), name: 'Billing' } });
  assert.deepEqual(w.services.get(ID(901)), { id: ID(901), name: 'Billing', color: 0, archived: false });
  assert.deepEqual(w.openServices().map((s) => s.name), ['Billing'], 'an archived service takes no new tasks');
  ev({ type: 'ServiceArchived', id: ID(900), archived: false });
  assert.deepEqual(w.openServices().map((s) => s.name), ['Billing', 'Ops (old)']);
  const berlin = { workdayStart: 540, workdayEnd: 1050, firstDay: 6, timeZone: 'Europe/Berlin' };
  ev({ type: 'ScheduleChanged', schedule: berlin });
  assert.deepEqual(w.schedule, berlin);
  assert.equal(w.revision, rev);
  // An event about a service the copy lacks is a divergence.
  assert.throws(() => w.apply({ revision: rev + 1, type: 'ServiceRecolored', id: ID(999), color: 1 }), (e) => e instanceof Gap && e.full);
  assert.throws(() => w.apply({ revision: rev + 1, type: 'ServiceRenamed', service: { id: ID(999), name: 'x' } }), (e) => e instanceof Gap && e.full);
  assert.equal(w.revision, rev, 'nothing applied');
});

test('the golden v1 Snapshot and events load into the copy', () => {
  const golden = JSON.parse(readFileSync(new URL('../../wire/testdata/golden.json', import.meta.url)));
  const frame = (name) => Uint8Array.from(golden.find((v) => v.name === name).hex.replace(/\s+/g, '').match(/../g), (h) => parseInt(h, 16));
  const w = new World();
  w.load(decodeServer(frame('v1 Snapshot'), true));
  const svc = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
  assert.deepEqual(w.services.get(svc), { id: svc, name: 'Platform', color: 0x10b981, archived: true });
  assert.deepEqual(w.schedule, { workdayStart: 540, workdayEnd: 1050, firstDay: 6, timeZone: 'Europe/Berlin', workingDays: 0x4f });
  w.load(decodeServer(frame('v1 Snapshot, written before the trailer (an old save file\'s)'), true));
  assert.deepEqual([w.services.get(svc).color, w.services.get(svc).archived, w.schedule], [0, false, DEFAULT_SCHEDULE]);
  // The golden events, renumbered to follow the snapshot.
  for (const name of ['v1 ServiceRecolored', 'v1 ServiceArchived', 'v1 ScheduleChanged']) {
    const ev = decodeServer(frame(name), true);
    w.apply({ ...ev, revision: w.revision + 1 });
  }
  assert.deepEqual(w.services.get(svc), { id: svc, name: 'Platform', color: 0x3b82f6, archived: true });
  assert.equal(w.schedule.timeZone, 'Europe/Berlin');
});

test('a block takes its service\'s colour when one was chosen, else the palette\'s', async () => {
  const { serviceColour } = await import('../js/colour.js');
  const id = ID(900);
  assert.equal(serviceColour(id, { color: 0x3b82f6 }), '#3b82f6');
  assert.equal(serviceColour(id, { color: 0x0000ff }), '#0000ff');
  assert.equal(serviceColour(id, { color: 0 }), serviceColour(id), 'colour 0: none chosen');
  assert.match(serviceColour(id), /^#[0-9a-f]{6}$/);
});

const T = (n, start, duration, over = {}) => task(n, { start, duration, ...over });

test('a move keeps the task\'s offset from the grid; Shift snaps it onto the grid', () => {
  const t = T(1, 8 * 60 + 40, 60); // 08:40–09:40
  const grab = 20; // pressed 20 minutes into the block
  const at = (minute, over = {}) => dragSlot({ zone: 'move', task: t, grab, minute, date: t.date, grid: 5, ...over });
  assert.equal(at(t.start + grab + 60).start, 9 * 60 + 40, 'dragged an hour: 09:40, not 09:30');
  assert.equal(at(t.start + grab + 70).start, 9 * 60 + 40, 'moves go by 30 minutes');
  assert.equal(at(t.start + grab + 80).start, 10 * 60 + 10);
  assert.equal(at(t.start + grab + 60, { snapToGrid: true }).start, 9 * 60 + 30, 'Shift: onto the half hour');
  assert.deepEqual(at(t.start + grab + 60, { date: t.date + 2 }), { date: t.date + 2, start: 9 * 60 + 40, duration: 60 }, 'another day, same time');
  assert.equal(at(-500).start, 0, 'never before midnight');
  assert.equal(at(3000).start, 1440 - 60, 'never past midnight');
  assert.equal(dragSlot({ zone: 'move', task: t, grab, minute: t.start + grab + 60, date: t.date, grid: 20 }).start, 8 * 60 + 40 + 60, 'a coarser grid: steps of 60');
  assert.equal(dragSlot({ zone: 'move', task: T(2, 8 * 60 + 42, 60), grab: 0, minute: 8 * 60 + 42, date: 1, grid: 5 }).start, 8 * 60 + 40, 'off the grid (a grid changed since): back onto it');
});

test('schedule snaps onto the grid; resize moves one edge by 5 minutes, never past the other', () => {
  const staged = T(1, 0, 0);
  assert.deepEqual(dragSlot({ zone: 'schedule', task: staged, grab: 0, minute: 910, date: 7, grid: 5 }), { date: 7, start: 900, duration: 30 });
  const t = T(2, 540, 30);
  assert.deepEqual(dragSlot({ zone: 'bottom', task: t, grab: 0, minute: 600, date: 9, grid: 5 }), { date: t.date, start: 540, duration: 60 });
  assert.deepEqual(dragSlot({ zone: 'top', task: t, grab: 0, minute: 523, date: 9, grid: 5 }), { date: t.date, start: 525, duration: 45 });
  assert.deepEqual(dragSlot({ zone: 'top', task: t, grab: 0, minute: 700, date: 9, grid: 5 }), { date: t.date, start: 565, duration: 5 }, 'the top stops a step above the bottom');
  assert.deepEqual(dragSlot({ zone: 'bottom', task: t, grab: 0, minute: 2000, date: 9, grid: 5 }).duration, 1440 - 540, 'the bottom stops at midnight');
  assert.deepEqual(createSlot(3, 9 * 60 + 10, 5), { date: 3, start: 540, duration: 30 });
  assert.deepEqual(createSlot(3, 1439, 5), { date: 3, start: 1410, duration: 30 });
});

test('the time axis gives the working day its height and the rest less', () => {
  const a = new TimeAxis(8 * 60, 18 * 60, 60, 14);
  assert.equal(a.y(8 * 60), 8 * 14);
  assert.equal(a.y(18 * 60), 8 * 14 + 600);
  assert.equal(a.height, 8 * 14 + 600 + 6 * 14);
  assert.ok(a.height <= 900 - 44 - 45, 'the whole day fits a 900-pixel screen below the bars');
  for (const m of [0, 100, 480, 481, 700, 1080, 1200, 1440]) assert.ok(Math.abs(a.minute(a.y(m)) - m) < 1e-9, `minute(y(${m}))`);
  assert.equal(a.scale(600), 1);
  assert.equal(a.scale(60), 14 / 60);
});

// Every task is drawn with a readable title or sits in exactly one chip;
// nothing is drawn outside the column or narrower than MIN_W.
function checkCascade(tasks, width, y = (m) => m * 0.8) {
  const { blocks, chips } = cascadeDay(tasks, width, y);
  const seen = new Map();
  for (const b of blocks) {
    seen.set(b.task.id, (seen.get(b.task.id) || 0) + 1);
    assert.ok(b.x >= 0 && b.x + b.w <= width + 1e-9, `${b.task.title} inside the column`);
    assert.ok(b.w >= CASCADE.MIN_W, `${b.task.title} is ${b.w} px wide`);
    assert.ok(b.lines[0] >= CASCADE.MIN_TEXT || b.h < CASCADE.TITLE - 1, `${b.task.title}'s title has ${b.lines[0]} px`);
    assert.ok(b.lines[0] <= b.w && b.lines[1] <= b.w);
  }
  for (const c of chips) {
    assert.ok(c.x + c.w <= width + 1e-9 && c.tasks.length > 0);
    for (const t of c.tasks) seen.set(t.id, (seen.get(t.id) || 0) + 1);
  }
  for (const t of tasks) assert.equal(seen.get(t.id), 1, `${t.title} is drawn or in a chip, once`);
  return { blocks, chips };
}

test('cascade: alone a task takes the column; two at once split it; later ones sit inside and to the right', () => {
  const one = checkCascade([T(1, 540, 60)], 120);
  assert.deepEqual([one.blocks[0].x, one.blocks[0].w], [0, 120]);
  const two = checkCascade([T(1, 540, 60), T(2, 540, 60)], 120);
  assert.deepEqual(two.blocks.map((b) => [b.x, b.lines[0]]), [[0, 60], [60, 60]], 'same start: half each');
  const nested = checkCascade([T(1, 540, 240), T(2, 600, 60), T(3, 720, 30)], 120);
  assert.deepEqual(nested.blocks.map((b) => [b.task.title, b.x, b.lines[0]]), [['t1', 0, 120], ['t2', CASCADE.INDENT, 108], ['t3', CASCADE.INDENT, 108]],
    'a task starting inside another is pushed right by INDENT; their titles do not meet');
  const apart = checkCascade([T(1, 540, 30), T(2, 600, 30)], 120);
  assert.deepEqual(apart.blocks.map((b) => b.x), [0, 0]);
});

test('cascade: twelve tasks in one slot show what fits and put the rest behind one chip', () => {
  const twelve = Array.from({ length: 12 }, (_, i) => T(i + 1, 600, 60));
  const { blocks, chips } = checkCascade(twelve, 127);
  assert.equal(chips.length, 1, 'one chip');
  assert.equal(blocks.length + chips[0].tasks.length, 12);
  assert.ok(blocks.length >= 2, `${blocks.length} drawn`);
  assert.ok(chips[0].x >= Math.max(...blocks.map((b) => b.x + b.w)) - 1e-9, 'the chip is beside the blocks, not over them');
  // wider: more of them drawn
  assert.ok(checkCascade(twelve, 600).blocks.length > blocks.length);
});

test('cascade: the demo\'s density and a dense random day keep every title readable', () => {
  let seed = 7;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (const [n, width] of [[14, 127], [14, 60], [40, 127], [300, 127], [300, 900]]) {
    const tasks = Array.from({ length: n }, (_, i) => T(i + 1, 480 + 30 * rnd(18), 30 * (1 + rnd(6))));
    checkCascade(tasks, width);
  }
});

test('a day\'s load: minutes booked and the tasks booked twice at once', () => {
  const l = dayLoad([T(1, 540, 60), T(2, 570, 30), T(3, 660, 60), T(4, 720, 30)]);
  assert.equal(l.booked, 180);
  assert.deepEqual([...l.overlapping].sort(), [ID(1), ID(2)]);
  assert.deepEqual([...dayLoad([T(1, 540, 60), T(2, 600, 60)]).overlapping], [], 'back to back is not twice');
  assert.deepEqual([...dayLoad([T(1, 540, 300), T(2, 600, 60), T(3, 700, 30)]).overlapping].sort(), [ID(1), ID(2), ID(3)], 'inside a long one');
});

test('person rows: one per person by name, then the unassigned; past the working day or twice at once is flagged', () => {
  const people = new Map([[ID(802), 'carol'], [ID(801), 'alice']]);
  const days = [[T(1, 540, 400, { assignee: ID(801) }), T(2, 600, 300, { assignee: ID(801) }), T(3, 540, 60, { assignee: ID(0) }), T(4, 540, 60, { assignee: ID(999) })], [T(5, 600, 60, { assignee: ID(802) })]];
  const rows = personRows(days, people, ID(0), 600);
  assert.deepEqual(rows.map((r) => r.name), ['alice', 'carol', 'Unassigned']);
  const [alice, carol, none] = rows;
  assert.deepEqual([alice.days[0].booked, alice.days[0].over, alice.days[0].overlapping.size], [700, true, 2]);
  assert.deepEqual([carol.days[1].booked, carol.days[1].over, carol.days[1].overlapping.size, carol.booked], [60, false, 0, 60]);
  assert.deepEqual(none.days[0].tasks.map((t) => t.title), ['t3', 't4'], 'an unknown assignee is shown with the unassigned');
  assert.equal(none.days[0].over, false, 'the unassigned are never over');
  assert.equal(hours(90), '1.5 h');
  assert.equal(hours(45), '45 min');
});

test('the view state: one version that moves with every real change', () => {
  const v = new ViewState({ date: 100 });
  assert.equal(v.version, 0);
  assert.equal(v.set({ date: 100 }), false, 'the same value is no change');
  assert.equal(v.version, 0);
  v.set({ selection: 'a', layout: 'person' });
  assert.equal(v.version, 1);
  v.addPending('a', { slot: null });
  v.donePending('a');
  v.donePending('a');
  assert.equal(v.version, 3, 'done twice counts once');
  assert.equal(matches(null, task(1)), true);
  assert.equal(matches({ services: new Set([ID(901)]), assignees: null }, task(1)), false);
  assert.equal(matches({ services: null, assignees: new Set([ID(0)]) }, task(1)), true);
});

test('the zone note compares clocks, not names, at the days shown', () => {
  assert.equal(zoneOffset('Europe/Berlin', Date.UTC(2026, 0, 15, 12)), 60);
  assert.equal(zoneOffset('Europe/Berlin', Date.UTC(2026, 6, 15, 12)), 120);
  assert.equal(zoneOffset('America/New_York', Date.UTC(2026, 0, 15, 12)), -300);
  assert.equal(zoneOffset('Asia/Kolkata', Date.UTC(2026, 0, 15, 12)), 330);
  const jan = dateOf(2026, 0, 12), jul = dateOf(2026, 6, 13); // Mondays
  assert.equal(clocksDiffer('Europe/Berlin', 'Europe/Paris', jan, jan + 7), false, 'Paris and Berlin read the same');
  assert.equal(clocksDiffer('Europe/Berlin', 'Europe/Paris', jul, jul + 7), false, 'in summer too');
  assert.equal(clocksDiffer('Europe/Berlin', 'Europe/Berlin', jan, jan + 7), false);
  assert.equal(clocksDiffer('Europe/Berlin', 'America/New_York', jan, jan + 7), true);
  // Lagos keeps UTC+1 all year: Berlin's winter clock, not its summer one.
  assert.equal(clocksDiffer('Europe/Berlin', 'Africa/Lagos', jan, jan + 7), false, 'the same clock in winter');
  assert.equal(clocksDiffer('Europe/Berlin', 'Africa/Lagos', jul, jul + 7), true, 'not in summer');
  // Summer time ends on Sunday 25 October 2026 at 03:00 in Berlin.
  const change = dateOf(2026, 9, 25);
  assert.equal(clocksDiffer('Europe/Berlin', 'Africa/Lagos', change - 6, change + 1), true, 'the week of the change: its first days differ');
  assert.equal(clocksDiffer('Europe/Berlin', 'Africa/Lagos', change, change + 1), true, 'the day of the change: its first hours differ');
  assert.equal(clocksDiffer('Europe/Berlin', 'Africa/Lagos', change + 1, change + 8), false, 'the week after: the same clock');
  // London and Lisbon change on the same instant as Berlin; UTC never does.
  assert.equal(clocksDiffer('Europe/London', 'Europe/Lisbon', change - 6, change + 1), false);
  assert.equal(clocksDiffer('UTC', 'Europe/London', change + 1, change + 8), false, 'London is on UTC in winter');
  assert.equal(clocksDiffer('UTC', 'Europe/London', change - 6, change + 1), true);
  // New York changes a week later (1 November 2026) than Europe.
  assert.equal(clocksDiffer('Europe/London', 'America/New_York', change, change + 1), true);
});
