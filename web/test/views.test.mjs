// Saved views and the title's byte count: the pure parts of views.js and
// title.js (the page's use of them is in teamui.test.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { profileOf, patchOf, without, toggled } from '../js/views.js';
import { titleCheck, utf8Bytes, refusal, MAX_TITLE, TASK_NOT_FOUND } from '../js/title.js';
import { ViewState, World, Status, matches } from '../js/model.js';

const S1 = '00000000-0000-0000-0000-000000000001', S2 = '00000000-0000-0000-0000-000000000002', P1 = '00000000-0000-0000-0000-000000000011';

test('a view saved as a profile comes back as the same view state', () => {
  const st = new ViewState({ date: 20788 }); // 2026-12-01
  st.set({ view: 'week', layout: 'person', collapsed: true, filter: { services: new Set([S2, S1]), assignees: null } });
  const p = profileOf(st);
  assert.deepEqual(p, { view: 'week', date: '2026-12-01', services: [S1, S2], assignees: [], collapsed: true, layout: 'person' });
  const back = new ViewState({ date: 0 });
  back.set(patchOf(JSON.parse(JSON.stringify(p))));
  assert.deepEqual([back.view, back.date, back.layout, back.collapsed, [...back.filter.services].sort(), back.filter.assignees], ['week', 20788, 'person', true, [S1, S2], null]);
  assert.equal(profileOf(st, true).collapsed, false, 'the phone\'s one day is not saved');
});

test('a profile with missing or wrong fields leaves the view as it is or at its default', () => {
  assert.deepEqual(patchOf(null), {});
  assert.deepEqual(patchOf({ date: '', view: 'year', layout: 'sideways' }), { view: 'week', layout: 'time', collapsed: false, filter: null });
  assert.equal(patchOf({ date: '2026-13-45' }).date, undefined);
  assert.equal(patchOf({ view: 'month', services: [], assignees: [P1] }).filter.services, null);
});

test('a chip removes one service or person; the last one leaves no filter', () => {
  let f = toggled(null, 'services', S1, true);
  f = toggled(f, 'assignees', P1, true);
  assert.equal(matches(f, { service: S1, assignee: P1 }), true);
  assert.equal(matches(f, { service: S2, assignee: P1 }), false);
  f = without(f, 'services', S1);
  assert.deepEqual([f.services, [...f.assignees]], [null, [P1]]);
  assert.equal(without(f, 'assignees', P1), null);
  assert.equal(toggled(toggled(null, 'services', S1, true), 'services', S1, false), null);
});

test('a title is counted in bytes of UTF-8, as the server counts it', () => {
  assert.equal(MAX_TITLE, 128);
  assert.equal(utf8Bytes('é'), 2);
  assert.equal(utf8Bytes('🦀'), 4);
  assert.deepEqual(titleCheck('Deploy backup'), { bytes: 13, over: false, counter: '13/128 bytes', reason: '' });
  const c = titleCheck(`${'é'.repeat(64)}a`);
  assert.deepEqual(c, { bytes: 129, over: true, counter: '129/128 bytes (é counts as 2)', reason: 'A title can be at most 128 bytes: this one is 129 (é counts as 2).' });
  assert.equal(titleCheck('é'.repeat(64)).over, false, '128 bytes fit');
  assert.equal(titleCheck(`a🦀${'x'.repeat(124)}`).counter, '129/128 bytes (🦀 counts as 4)');
});

test('a refusal names the task by its title, also once it is deleted', () => {
  const w = new World();
  w.load({ revision: 1, tasks: [{ id: S1, status: Status.Staged, priority: 1, date: 0xffff, start: 0, duration: 0, service: S2, assignee: P1, title: 'Deploy backup', created: 1 }], services: [], users: [], grid: 5 });
  w.apply({ revision: 2, type: 'TaskDeleted', id: S1 });
  assert.equal(w.titleOf(S1), 'Deploy backup');
  // The server's words stand; an id in an older server's words becomes the title.
  assert.equal(refusal({ message: "'Deploy backup' was deleted by ann a moment ago.", code: TASK_NOT_FOUND }, S1, w.titleOf(S1)), "'Deploy backup' was deleted by ann a moment ago.");
  assert.equal(refusal({ message: `no task ${S1}`, code: TASK_NOT_FOUND }, S1, w.titleOf(S1)), 'no task “Deploy backup”');
  assert.equal(refusal({ message: `task ${S1} is completed`, code: 99 }, S1, 'Deploy backup'), 'task “Deploy backup” is completed');
  assert.equal(refusal({ message: 'title is 140 bytes', code: 10 }, S1, undefined), 'title is 140 bytes');
});
