// The client's live totals against a recount, over a random sequence of
// events, and the non-working days the model keeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, Status } from '../js/model.js';
import { NO_DATE } from '../js/codec.js';

const ID = (n) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;

function recount(w, from, to) {
  const out = new Map();
  for (const t of w.tasks.values()) {
    const s = { [Status.Scheduled]: 0, [Status.Active]: 1, [Status.Completed]: 2 }[t.status];
    if (s === undefined || t.date === NO_DATE || t.date < from || t.date >= to) continue;
    const acc = out.get(t.service) ?? [0, 0, 0];
    acc[s] += t.duration;
    out.set(t.service, acc);
  }
  return out;
}

test('live totals equal a recount after every one of 3,000 random events', () => {
  let seed = 15;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const w = new World();
  w.load({ revision: 0, tasks: [], services: [{ id: ID(900), name: 'A' }, { id: ID(901), name: 'B' }], users: [], grid: 5 });
  const ids = [];
  for (let rev = 1; rev <= 3000; rev++) {
    const t = ids.length ? w.tasks.get(ids[rnd(ids.length)]) : undefined;
    let ev;
    const k = t ? rnd(9) : 0;
    if (k === 0) {
      const id = ID(rev);
      ids.push(id);
      const staged = rnd(5) === 0;
      ev = { type: 'TaskCreated', task: { id, status: staged ? Status.Staged : Status.Scheduled, priority: 1, date: staged ? NO_DATE : 20000 + rnd(10), start: 0, duration: staged ? 0 : 5 * (1 + rnd(20)), service: ID(900 + rnd(2)), assignee: ID(rnd(3)), title: '', created: rev } };
    } else if (k === 1 && t.status !== Status.Staged) ev = { type: 'TaskMoved', id: t.id, date: 20000 + rnd(10), start: 60, duration: 5 * (1 + rnd(20)) };
    else if (k === 2 && t.status === Status.Staged) ev = { type: 'TaskScheduled', id: t.id, date: 20000 + rnd(10), start: 60, duration: 30 };
    else if (k === 3 && t.status !== Status.Staged) ev = { type: 'TaskUnscheduled', id: t.id };
    else if (k === 4 && t.status === Status.Scheduled) ev = { type: 'TaskStarted', id: t.id };
    else if (k === 5 && t.status !== Status.Staged) ev = { type: 'TaskCompleted', id: t.id };
    else if (k === 6 && t.status === Status.Completed) ev = { type: 'TaskReopened', id: t.id };
    else if (k === 7) ev = { type: 'TaskServiceChanged', id: t.id, service: ID(900 + rnd(2)) };
    else if (k === 8) { ev = { type: 'TaskDeleted', id: t.id }; ids.splice(ids.indexOf(t.id), 1); }
    else ev = { type: 'TaskRenamed', id: t.id, title: 'x' };
    w.apply({ ...ev, revision: rev });
    assert.deepEqual(w.totals.sum(20000, 20010, (service) => service), recount(w, 20000, 20010), `after event ${rev} (${ev.type})`);
  }
});

test('holidays and time off from the snapshot and the events', () => {
  const w = new World();
  w.load({ revision: 1, tasks: [], services: [], users: [], grid: 5, holidays: [{ date: 20454, name: 'New Year' }], timeOff: [] });
  assert.equal(w.offOn(ID(1), 20454), 'New Year');
  w.apply({ type: 'TimeOffAdded', revision: 2, timeOff: { id: ID(7), user: ID(1), from: 20500, to: 20502, note: '' } });
  assert.equal(w.offOn(ID(1), 20501), 'time off');
  assert.equal(w.offOn(ID(2), 20501), '');
  w.apply({ type: 'TimeOffRemoved', revision: 3, id: ID(7), user: ID(1) });
  w.apply({ type: 'HolidayRemoved', revision: 4, date: 20454 });
  assert.equal(w.offOn(ID(1), 20501) + w.offOn(ID(1), 20454), '');
});

test('a Snapshot\'s non-working days trailer is there only with something in it', async () => {
  const { readFileSync } = await import('node:fs');
  const { decodeServer, FrameError } = await import('../js/codec.js');
  const golden = JSON.parse(readFileSync(new URL('../../wire/testdata/golden.json', import.meta.url)));
  const hex = (v) => Uint8Array.from(v.hex.replaceAll(' ', '').match(/../g).map((h) => parseInt(h, 16)));
  const plain = hex(golden.find((v) => v.name === 'v1 Snapshot'));
  const empty = new Uint8Array(plain.length + 8);
  empty.set(plain);
  assert.throws(() => decodeServer(empty, true), FrameError);
  const full = decodeServer(hex(golden.find((v) => v.name === 'v1 Snapshot with holidays and time off')), true);
  assert.deepEqual([full.holidays.length, full.timeOff.length], [1, 1]);
});
