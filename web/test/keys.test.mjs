// The keyboard's table and arithmetic (keys.js) and what undoes a change (undo.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyName, actionOf, keySlot, cursorStep, laneStep, SHORTCUTS } from '../js/keys.js';
import { changeOf, UndoStack, CREATED, patchOf, createdChange } from '../js/undo.js';
import { pageOf } from '../js/a11y.js';
import { NO_DATE } from '../js/codec.js';

const ev = (key, code, mods = {}) => ({ key, code, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods });

test('key names: letters by their code, modifiers in one order, ? alone', () => {
  assert.equal(keyName(ev('z', 'KeyZ', { ctrlKey: true })), 'Ctrl+z');
  assert.equal(keyName(ev('Z', 'KeyZ', { ctrlKey: true, shiftKey: true })), 'Ctrl+Shift+z');
  assert.equal(keyName(ev('µ', 'KeyM', { altKey: true })), 'Alt+m', 'Alt changes the character, not the code');
  assert.equal(keyName(ev('?', 'Slash', { shiftKey: true })), '?');
  assert.equal(keyName(ev('ArrowUp', 'ArrowUp', { altKey: true, shiftKey: true })), 'Shift+Alt+ArrowUp');
  assert.equal(actionOf(ev('ArrowLeft', 'ArrowLeft', { altKey: true })), 'moveX');
  assert.equal(actionOf(ev('q', 'KeyQ')), '');
});

test('every key is listed once', () => {
  const all = SHORTCUTS.flatMap((s) => s.keys);
  assert.equal(new Set(all).size, all.length);
});

test('a keyboard move goes by a step or a day and stays in the day; a resize keeps at least a step', () => {
  const t = { date: 100, start: 520, duration: 60 }; // 08:40
  assert.deepEqual(keySlot(t, 'y', 1, 5), { date: 100, start: 550, duration: 60 }, 'keeps its offset from the grid');
  assert.deepEqual(keySlot(t, 'x', -1, 5), { date: 99, start: 520, duration: 60 });
  assert.deepEqual(keySlot({ date: 1, start: 1380, duration: 60 }, 'y', 1, 5), { date: 1, start: 1380, duration: 60 });
  assert.deepEqual(keySlot(t, 'size', 1, 5), { date: 100, start: 520, duration: 75 });
  assert.deepEqual(keySlot({ date: 1, start: 0, duration: 15 }, 'size', -1, 5), { date: 1, start: 0, duration: 15 });
  assert.deepEqual(keySlot(t, 'y', 1, 60), { date: 100, start: 580, duration: 60 }, 'a coarse grid sets the step');
});

test('the cursor goes by steps on the grid', () => {
  assert.deepEqual(cursorStep({ date: 5, start: 545 }, 'y', 0, 5), { date: 5, start: 540, duration: 30 });
  assert.deepEqual(cursorStep({ date: 5, start: 540 }, 'y', -1, 5), { date: 5, start: 510, duration: 30 });
  assert.deepEqual(cursorStep({ date: 5, start: 1410 }, 'y', 1, 5), { date: 5, start: 1410, duration: 30 });
  assert.deepEqual(cursorStep({ date: 5, start: 540 }, 'x', 1, 5), { date: 6, start: 540, duration: 30 });
});

const T = { id: 'a', status: 1, priority: 1, date: 10, start: 540, duration: 60, service: 's', assignee: 'u', title: 'Patch' };

test('what undoes each change, from the task as it was', () => {
  assert.deepEqual(changeOf({ type: 'MoveTask', task: 'a', date: 11, start: 600, duration: 60 }, T).undo, [{ type: 'MoveTask', task: 'a', date: 10, start: 540, duration: 60 }]);
  assert.equal(changeOf({ type: 'MoveTask', task: 'a', date: 10, start: 540, duration: 90 }, T).label, 'resize');
  assert.deepEqual(changeOf({ type: 'RenameTask', task: 'a', text: 'x' }, T).undo, [{ type: 'RenameTask', task: 'a', text: 'Patch' }]);
  assert.deepEqual(changeOf({ type: 'SetPriority', task: 'a', priority: 3 }, T).undo, [{ type: 'SetPriority', task: 'a', priority: 1 }]);
  assert.deepEqual(changeOf({ type: 'AssignTask', task: 'a', assignee: 'v' }, T).undo, [{ type: 'AssignTask', task: 'a', assignee: 'u' }]);
  assert.deepEqual(changeOf({ type: 'SetService', task: 'a', service: 't' }, T).undo, [{ type: 'SetService', task: 'a', service: 's' }]);
  const types = (cmd, t) => changeOf(cmd, t).undo.map((c) => c.type);
  assert.deepEqual(types({ type: 'StartTask', task: 'a' }, T), ['CompleteTask', 'ReopenTask'], 'active back to scheduled');
  assert.deepEqual(types({ type: 'CompleteTask', task: 'a' }, T), ['ReopenTask']);
  assert.deepEqual(types({ type: 'CompleteTask', task: 'a' }, { ...T, status: 2 }), ['ReopenTask', 'StartTask']);
  assert.deepEqual(types({ type: 'ReopenTask', task: 'a' }, { ...T, status: 3 }), ['CompleteTask']);
  assert.deepEqual(changeOf({ type: 'UnscheduleTask', task: 'a' }, T).undo, [{ type: 'ScheduleTask', task: 'a', date: 10, start: 540, duration: 60 }]);
  assert.deepEqual(types({ type: 'ScheduleTask', task: 'a', date: 1, start: 0, duration: 30 }, { ...T, status: 0 }), ['UnscheduleTask']);
  assert.equal(changeOf({ type: 'CreateTask' }, T), null, 'a create is undone by createdChange, once its id is known');
});

test('a deleted task comes back with its fields and status, and later commands name the new id', () => {
  const c = changeOf({ type: 'DeleteTask', task: 'a' }, { ...T, status: 3 });
  assert.deepEqual(c.undo, [
    { type: 'CreateTask', priority: 1, service: 's', assignee: 'u', date: 10, start: 540, duration: 60, text: 'Patch', replaces: 'a' },
    { type: 'CompleteTask', task: CREATED },
  ]);
  const staged = changeOf({ type: 'DeleteTask', task: 'a' }, { ...T, status: 0 }).undo;
  assert.deepEqual([staged.length, staged[0].date], [1, NO_DATE]);
  const u = new UndoStack(2);
  u.push(changeOf({ type: 'RenameTask', task: 'a', text: 'x' }, T));
  u.push(c);
  assert.deepEqual(u.bind(c.undo[1], 'b'), { type: 'CompleteTask', task: 'b' });
  u.recreated('a', 'b');
  assert.deepEqual(u.bind(u.done[0].undo[0]), { type: 'RenameTask', task: 'b', text: 'Patch' }, 'the older change names the task as it is now');
  u.recreated('a', 'c'); // deleted and created again once more
  assert.equal(u.resolve('a'), 'c');
  assert.equal(u.resolve('b'), 'c');
});

test('the stack is bounded; a new change ends what could be redone', () => {
  const u = new UndoStack(2);
  for (const p of [1, 2, 3]) u.push(changeOf({ type: 'SetPriority', task: 'a', priority: p }, T));
  assert.equal(u.done.length, 2);
  const c = u.takeUndo();
  u.undoneOk(c);
  assert.equal(u.takeRedo(), c);
  u.undoneOk(c);
  u.push(changeOf({ type: 'SetPriority', task: 'a', priority: 0 }, T));
  assert.equal(u.takeRedo(), null);
});

test('what a command in flight will set, for the next one made before its event', () => {
  assert.deepEqual(patchOf({ type: 'MoveTask', task: 'a', date: 3, start: 60, duration: 30 }), { date: 3, start: 60, duration: 30 });
  assert.deepEqual(patchOf({ type: 'RenameTask', task: 'a', text: 'x' }), { title: 'x' });
  assert.deepEqual(patchOf({ type: 'UnscheduleTask', task: 'a' }), { status: 0, date: NO_DATE, start: 0, duration: 0 });
  assert.deepEqual(patchOf({ type: 'DeleteTask', task: 'a' }), {});
});

test('the people layout: Alt+↑/↓ goes to the lane above or below, stops at the ends', () => {
  const lanes = ['ann', 'bob', 'none'];
  assert.equal(laneStep(lanes, 'bob', -1), 'ann');
  assert.equal(laneStep(lanes, 'bob', 1), 'none');
  assert.equal(laneStep(lanes, 'ann', -1), null);
  assert.equal(laneStep(lanes, 'none', 1), null);
  assert.equal(laneStep(lanes, 'gone', -1), 'bob', 'an assignee with no lane is in the unassigned lane');
  assert.equal(actionOf(ev('ArrowUp', 'ArrowUp', { altKey: true })), 'moveY');
  assert.match(SHORTCUTS.find((s) => s.action === 'moveY').says, /people layout.*person above or below/, 'the help says so');
});

test('a create or a copy is undone by deleting it, redone by creating it again as it was', () => {
  const c = createdChange({ type: 'CreateTask' }, T);
  assert.equal(c.label, 'create');
  assert.deepEqual(c.undo, [{ type: 'DeleteTask', task: 'a' }]);
  assert.deepEqual(c.redo, [{ type: 'CreateTask', priority: 1, service: 's', assignee: 'u', date: 10, start: 540, duration: 60, text: 'Patch', replaces: 'a' }]);
  const copy = createdChange({ type: 'CloneTask', source: 'z' }, { ...T, status: 3 });
  assert.equal(copy.label, 'copy');
  assert.deepEqual(copy.redo.map((x) => x.type), ['CreateTask', 'CompleteTask'], 'a copy completed since comes back completed');
  assert.equal(copy.redo[1].task, CREATED);
  // The undo deleted it as it was then (renamed by someone since): the redo makes that.
  const u = new UndoStack();
  u.push(c);
  const undone = u.takeUndo();
  u.undoneOk(undone);
  u.deleted(undone, -1, { ...T, title: 'Patched' });
  assert.equal(u.takeRedo().redo[0].text, 'Patched');
  // Created again as b: a second undo deletes b.
  u.recreated('a', 'b');
  assert.deepEqual(u.bind(c.undo[0]), { type: 'DeleteTask', task: 'b' });
});

test('the accessible list: pages of tasks, the selection\'s page', () => {
  assert.deepEqual(pageOf(0, 0, -1, 300), { page: 0, pages: 1, from: 0, to: 0 });
  assert.deepEqual(pageOf(250, 3, -1, 300), { page: 0, pages: 1, from: 0, to: 250 }, 'one page: no other to turn to');
  assert.deepEqual(pageOf(4512, 1, -1, 300), { page: 1, pages: 16, from: 300, to: 600 });
  assert.deepEqual(pageOf(4512, 0, 4500, 300), { page: 15, pages: 16, from: 4500, to: 4512 }, 'the selection brings its page');
  assert.deepEqual(pageOf(4512, 40, -1, 300).page, 15, 'a page past the end is the last');
});
