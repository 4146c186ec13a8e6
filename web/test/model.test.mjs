// The client's world copy and its calendar arithmetic.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, Gap, Status, layoutDay, weekStart, dayOfWeek, nowIn, stepFor, snap, initials, percentile } from '../js/model.js';
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

test('overlapping tasks share a cluster\'s lanes; separate ones get the full width', () => {
  const lay = layoutDay([
    task(1, { start: 540, duration: 60 }), task(2, { start: 570, duration: 60 }), task(3, { start: 600, duration: 30 }),
    task(4, { start: 720, duration: 30 }),
  ]);
  const by = Object.fromEntries(lay.map((x) => [x.task.title, [x.lane, x.lanes]]));
  assert.deepEqual(by, { t1: [0, 2], t2: [1, 2], t3: [0, 2], t4: [0, 1] });
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
  assert.deepEqual(w.schedule, { workdayStart: 540, workdayEnd: 1050, firstDay: 6, timeZone: 'Europe/Berlin' });
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
  const { serviceColour } = await import('../js/grid.js');
  const id = ID(900);
  assert.equal(serviceColour(id, { color: 0x3b82f6 }), '#3b82f6');
  assert.equal(serviceColour(id, { color: 0x0000ff }), '#0000ff');
  assert.equal(serviceColour(id, { color: 0 }), serviceColour(id), 'colour 0: none chosen');
  assert.match(serviceColour(id), /^#[0-9a-f]{6}$/);
});
