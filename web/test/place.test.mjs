// End to end, in headless Chromium against the real binary: the place in
// the URL (refresh, Back and Forward, a link for a colleague), the
// keyboard doing what the mouse does, undo and redo across two users, the
// accessible list of the visible tasks, the time zone note, and an axe
// check of every screen. Screenshots go to test-artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const artifacts = path.join(root, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const BOB = 'bob-the-keyboard';
const AXE = path.join(here, '..', 'node_modules', 'axe-core', 'axe.min.js');

let dir, bin, db, url, server, log, browser, A, B;
const pageErrors = [];

process.on('exit', () => server?.kill('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => { server?.kill('SIGKILL'); process.exit(128 + (sig === 'SIGINT' ? 2 : 15)); });
}

/** Starts `txxt serve` and resolves with its URL within 30 s. */
function serve(addr, extra = []) {
  return new Promise((resolve, reject) => {
    server = spawn(bin, ['serve', '--data', db, '--addr', addr, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr.pipe(log, { end: false });
    const timer = setTimeout(() => { server.kill('SIGKILL'); reject(new Error('txxt serve printed no address within 30 s')); }, 30000);
    let out = '';
    server.stdout.on('data', (b) => {
      out += b;
      log.write(b);
      const m = /at (http:\/\/[^\s]+?)\/?\n/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`txxt serve exited with ${code} before serving`)); });
  });
}

/** SIGTERM, then SIGKILL when it has not exited within 10 s. */
function stop() {
  return new Promise((resolve) => {
    if (!server || server.exitCode !== null || server.signalCode !== null) return resolve();
    const timer = setTimeout(() => server.kill('SIGKILL'), 10000);
    server.removeAllListeners('exit');
    server.on('exit', () => { clearTimeout(timer); resolve(); });
    server.kill('SIGTERM');
  });
}

const live = (page) => page.waitForFunction(() => window.txxt?.world.loaded && window.txxt.conn.state === 'live', null, { timeout: 15000 })
  .catch((e) => { throw new Error(`the page never came live: ${e.message}`); });

/** A page of its own context, logged in, at the team's page /t/demo/. */
async function login(user, password, o = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...o });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${user}: ${e.message}`));
  await page.goto(`${url}/t/demo/`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await live(page);
  return page;
}

/** Waits until fn(t) holds for task id on the page (t undefined if absent). */
function until(page, id, src, what) {
  return page.waitForFunction(([id, src]) => new Function('t', `return ${src}`)(window.txxt.world.tasks.get(id)), [id, src], { timeout: 10000, polling: 50 })
    .catch((e) => { throw new Error(`${what}: ${e.message}`); });
}
/** Waits until a function of the page holds (polled: a page in the background runs no animation frames, so waiting on them can stall). */
const waitFor = (page, fn, arg, what) => page.waitForFunction(fn, arg, { timeout: 10000, polling: 50 }).catch((e) => { throw new Error(`${what}: ${e.message}`); });

const week = (page) => page.evaluate(() => window.txxt.week());
const task = (page, id) => page.evaluate((id) => ({ ...window.txxt.world.tasks.get(id) }), id);
const search = (page) => page.evaluate(() => Object.fromEntries(new URLSearchParams(location.search)));

/** A scheduled task of the week shown with room around it (09:00–15:00, on a weekday). */
const movable = (page) => page.evaluate(() => {
  const app = window.txxt, w = app.week();
  return [...app.world.tasks.values()].find((t) => t.status === 1 && t.date >= w && t.date < w + 4 && t.start >= 540 && t.start + t.duration <= 900
    && app.grid.rectOf(t.id) && !app.pending.has(t.id))?.id;
});

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'txxt-place-'));
  mkdirSync(artifacts, { recursive: true });
  log = createWriteStream(path.join(artifacts, 'place-server.log'));
  bin = path.join(dir, 'txxt');
  execFileSync('go', ['build', '-o', bin, './cmd/txxt'], { cwd: root, stdio: 'inherit' });
  db = path.join(dir, 'place.db');
  url = await serve('127.0.0.1:0', ['--demo']);
  const addr = new URL(url).host;
  await stop();
  execFileSync(bin, ['user', 'add', '--data', db, '--team', 'demo', BOB], { input: 'bob-password\n' });
  url = await serve(addr);
  browser = await chromium.launch({ executablePath: CHROMIUM, timeout: 60000 });
  A = await login('demo', 'demo');
  B = await login(BOB, 'bob-password');
}, { timeout: 300000 });

after(async () => {
  for (const [name, page] of [['A', A], ['B', B]]) await page?.screenshot({ path: path.join(artifacts, `place-final-${name}.png`) }).catch(() => {});
  await browser?.close();
  await stop();
  log?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, { timeout: 60000 });

test('the place is in the URL: refresh keeps it, Back and Forward move through it, a colleague\'s link opens it', async () => {
  const w = await week(A);
  assert.equal(await A.evaluate(() => location.pathname), '/t/demo/', 'the team\'s path is kept');
  assert.equal((await search(A)).date !== undefined, true, 'the date is written at load');
  const id = await movable(A);
  assert.ok(id, 'the demo week has a task');
  const p = await A.evaluate((id) => window.txxt.grid.grabPoint(id), id);
  await A.mouse.click(p.x, p.y);
  await waitFor(A, (id) => new URLSearchParams(location.search).get('task') === id, id, 'the selection in the URL');
  await A.keyboard.press('PageDown');
  await waitFor(A, (w) => window.txxt.week() === w + 7 && new URLSearchParams(location.search).get('date') === new Date(window.txxt.state.date * 864e5).toISOString().slice(0, 10),
    w, 'the next week in the URL');
  await A.keyboard.press('Alt+p');
  await waitFor(A, () => new URLSearchParams(location.search).get('layout') === 'person', null, 'the person layout in the URL');
  const link = await A.evaluate(() => location.href);

  await A.reload();
  await live(A);
  assert.deepEqual(await A.evaluate(() => [window.txxt.state.layout, window.txxt.week(), window.txxt.selected]), ['person', w + 7, id], 'a refresh keeps it');
  await waitFor(A, () => !document.getElementById('side-task').hidden, null, 'the selected task\'s panel after the refresh');

  await A.goBack();
  await waitFor(A, () => window.txxt.state.layout === 'time', null, 'Back: the time layout');
  assert.equal(await week(A), w + 7);
  await A.goBack();
  await waitFor(A, (w) => window.txxt.week() === w, w, 'Back: the week before');
  assert.equal(await A.evaluate(() => window.txxt.selected), id, 'still selected');
  await A.goBack();
  await waitFor(A, () => window.txxt.selected === null, null, 'Back: nothing selected');
  await A.goForward();
  await waitFor(A, (id) => window.txxt.selected === id, id, 'Forward: selected again');
  assert.equal(await A.evaluate(() => location.pathname), '/t/demo/');

  // The colleague opens the copied link: the same week, layout and task.
  const ctx = B.context(), C = await ctx.newPage();
  await C.goto(link);
  await live(C);
  assert.deepEqual(await C.evaluate(() => [window.txxt.state.layout, window.txxt.week(), window.txxt.selected]), ['person', w + 7, id]);
  await waitFor(C, (t) => document.getElementById('side-title').textContent === t, (await task(A, id)).title, 'the colleague sees the task\'s panel');
  await C.screenshot({ path: path.join(artifacts, 'place-link.png') });
  await C.close();
  // Back to this week, time layout, nothing selected, for what follows.
  await A.goBack();
  await waitFor(A, (w) => window.txxt.week() === w && window.txxt.selected === null, w, 'back at the start');
});

const findTitle = (page, title) => page.evaluate((title) => [...window.txxt.world.tasks.values()].find((t) => t.title === title)?.id, title);
const slotOf = (t) => [t.date, t.start, t.duration, t.status];

test('from the keyboard alone: create at the cursor, move, resize, undo and redo seen by the other user (a create and a copy too), schedule a staged task', async () => {
  await A.focus('#grid');
  await A.keyboard.press('Escape');
  await A.keyboard.press('ArrowDown');
  const cur = await A.evaluate(() => window.txxt.state.cursor);
  assert.ok(cur && cur.duration === 30, 'the cursor is on the grid');
  await A.keyboard.press('n');
  await A.waitForSelector('input.editor');
  await A.keyboard.type('Keyboard made');
  await A.keyboard.press('Enter');
  await waitFor(B, () => [...window.txxt.world.tasks.values()].some((t) => t.title === 'Keyboard made'), null, 'B sees the new task');
  const id = await findTitle(B, 'Keyboard made');
  assert.deepEqual(slotOf(await task(B, id)), [cur.date, cur.start, 30, 1], 'created at the cursor');
  await waitFor(A, (id) => window.txxt.selected === id, id, 'the new task is selected');

  await A.keyboard.press('Alt+ArrowDown');
  await until(B, id, `t.start === ${cur.start + 30}`, 'B sees it a step later');
  await A.keyboard.press('Alt+ArrowRight');
  await until(B, id, `t.date === ${cur.date + 1}`, 'B sees it a day later');
  await A.keyboard.press('Shift+Alt+ArrowDown');
  await until(B, id, 't.duration === 45', 'B sees it 15 minutes longer');

  await A.keyboard.press('Control+z');
  await until(B, id, 't.duration === 30', 'B sees the resize undone');
  await A.keyboard.press('Control+z');
  await until(B, id, `t.date === ${cur.date} && t.start === ${cur.start + 30}`, 'B sees the day move undone');
  await A.keyboard.press('Control+Shift+z');
  await until(B, id, `t.date === ${cur.date + 1}`, 'B sees it redone');

  // A delete is undone by creating the task again, with its fields.
  await A.keyboard.press('Delete');
  await until(B, id, 't === undefined', 'B sees it deleted');
  await A.keyboard.press('Control+z');
  await waitFor(B, ([d, s]) => [...window.txxt.world.tasks.values()].some((t) => t.title === 'Keyboard made' && t.date === d && t.start === s && t.duration === 30),
    [cur.date + 1, cur.start + 30], 'B sees it back where it was');
  // Found on B, which has it: A's own copy of the world may not yet.
  const again = await findTitle(B, 'Keyboard made');
  assert.notEqual(again, id, 'a new task');
  await waitFor(A, (id) => window.txxt.selected === id, again, 'the task back is selected');
  // An older change names the task as it is now: undoing the redo before the delete.
  await A.keyboard.press('Control+z');
  await until(B, again, `t.date === ${cur.date}`, 'B sees the older move undone on the task that came back');

  // A refused undo says why: B deletes what A moved.
  await A.keyboard.press('Alt+ArrowDown');
  await until(B, again, `t.start === ${cur.start + 60}`, 'B sees the move');
  await B.evaluate((id) => window.txxt.conn.send({ type: 'DeleteTask', task: id }), again);
  await until(A, again, 't === undefined', 'A sees B\'s delete');
  await A.keyboard.press('Control+z');
  const refused = await A.waitForSelector('.toast.error:has-text("Undo of move refused")', { timeout: 10000 });
  assert.match(await refused.textContent(), /'Keyboard made' was deleted by bob-the-keyboard a moment ago\./, "the server's reason, in its words");

  // Schedule a staged task: type it, Tab to it, Enter selects, P puts it at the cursor.
  await A.focus('#stage-new input');
  await A.keyboard.type('Keyboard staged');
  await A.keyboard.press('Enter');
  await A.waitForSelector('#staged li:has-text("Keyboard staged")');
  const st = await findTitle(A, 'Keyboard staged');
  await A.focus(`#staged li[data-id="${st}"]`);
  // A colleague's change draws the list again: the keyboard's focus stays on the task.
  await B.evaluate((id) => window.txxt.conn.send({ type: 'SetPriority', task: id, priority: 3 }), st);
  await A.waitForSelector(`#staged li[data-id="${st}"] small:has-text("Urgent")`, { timeout: 10000 });
  assert.equal(await A.evaluate(() => /** @type {HTMLElement} */ (document.activeElement)?.dataset.id), st, 'the staged task keeps the focus when the list is drawn again');
  await A.keyboard.press('Enter');
  await waitFor(A, (id) => window.txxt.selected === id, st, 'Enter selects the staged task');
  await A.keyboard.press('ArrowDown');
  const at = await A.evaluate(() => window.txxt.state.cursor);
  await A.keyboard.press('p');
  await until(B, st, `t.status === 1 && t.date === ${at.date} && t.start === ${at.start}`, 'B sees it scheduled at the cursor');
  await A.screenshot({ path: path.join(artifacts, 'place-keyboard.png') });

  // Undo of a create deletes it; redo creates it again (a new task), each
  // a command the server validates, seen by the other user.
  await A.focus('#grid');
  await A.keyboard.press('Escape');
  await A.keyboard.press('ArrowDown');
  const c2 = await A.evaluate(() => window.txxt.state.cursor);
  await A.keyboard.press('n');
  await A.waitForSelector('input.editor');
  await A.keyboard.type('Made then undone');
  await A.keyboard.press('Enter');
  await waitFor(B, () => [...window.txxt.world.tasks.values()].some((t) => t.title === 'Made then undone'), null, 'B sees the new task');
  const made = await findTitle(B, 'Made then undone');
  await waitFor(A, (id) => window.txxt.selected === id, made, 'the new task is selected');
  await A.keyboard.press('Control+z');
  await until(B, made, 't === undefined', 'B sees the create undone: the task deleted');
  await A.keyboard.press('Control+Shift+z');
  await waitFor(B, ([d, s]) => [...window.txxt.world.tasks.values()].some((t) => t.title === 'Made then undone' && t.date === d && t.start === s && t.duration === 30),
    [c2.date, c2.start], 'B sees the create redone where it was');
  const remade = await findTitle(B, 'Made then undone');
  assert.notEqual(remade, made, 'a new task');
  await A.keyboard.press('Control+z');
  await until(B, remade, 't === undefined', 'B sees the redone create undone again (the stack names the new task)');

  // A copy (Ctrl+C, the cursor a day later, Ctrl+V) is undone and redone the same way.
  const src = await movable(A);
  const srcTask = await task(A, src);
  const copies = (page) => page.evaluate(([title, id]) => [...window.txxt.world.tasks.values()].filter((t) => t.title === title && t.id !== id).map((t) => t.id), [srcTask.title, src]);
  const before = (await copies(B)).length;
  const gp = await A.evaluate((id) => window.txxt.grid.grabPoint(id), src);
  await A.mouse.click(gp.x, gp.y);
  await waitFor(A, (id) => window.txxt.selected === id, src, 'the task to copy is selected');
  await A.keyboard.press('Control+c');
  await A.keyboard.press('Escape');
  await A.keyboard.press('ArrowRight');
  await A.keyboard.press('Control+v');
  await waitFor(B, ([title, id, n]) => [...window.txxt.world.tasks.values()].filter((t) => t.title === title && t.id !== id).length === n + 1, [srcTask.title, src, before], 'B sees the copy');
  await A.keyboard.press('Control+z');
  await waitFor(B, ([title, id, n]) => [...window.txxt.world.tasks.values()].filter((t) => t.title === title && t.id !== id).length === n, [srcTask.title, src, before], 'B sees the copy undone');
  await A.keyboard.press('Control+Shift+z');
  await waitFor(B, ([title, id, n, d]) => [...window.txxt.world.tasks.values()].some((t) => t.title === title && t.id !== id && t.date === d) && [...window.txxt.world.tasks.values()].filter((t) => t.title === title && t.id !== id).length === n + 1,
    [srcTask.title, src, before, srcTask.date + 1], 'B sees the copy redone, a day after the original');
  assert.deepEqual(slotOf(await task(B, src)), slotOf(srcTask), 'the original never moved');
});

test('the people layout from the keyboard: Alt+↑/↓ moves the selected task to the lane above or below', async () => {
  await A.focus('#grid');
  await A.keyboard.press('Escape');
  await A.keyboard.press('Alt+p');
  await waitFor(A, () => window.txxt.state.layout === 'person', null, 'the person layout');
  await A.keyboard.press('n');
  await A.waitForSelector('input.editor');
  await A.keyboard.type('Lane hopper');
  await A.keyboard.press('Enter');
  await waitFor(B, () => [...window.txxt.world.tasks.values()].some((t) => t.title === 'Lane hopper'), null, 'B sees the new task');
  const id = await findTitle(B, 'Lane hopper');
  await waitFor(A, (id) => window.txxt.selected === id, id, 'the new task is selected');
  const lanes = await A.evaluate(() => window.txxt.grid.rows.map((r) => r.id));
  const n = lanes.length;
  assert.ok(n >= 3, 'two people and the unassigned at least');
  assert.equal((await task(B, id)).assignee, lanes[n - 1], 'made unassigned: the last lane');
  await A.keyboard.press('Alt+ArrowUp');
  await until(B, id, `t.assignee === '${lanes[n - 2]}'`, 'B sees it given to the person of the lane above');
  await A.keyboard.press('Alt+ArrowUp');
  await until(B, id, `t.assignee === '${lanes[n - 3]}'`, 'and the next lane up');
  await A.keyboard.press('Alt+ArrowDown');
  await until(B, id, `t.assignee === '${lanes[n - 2]}'`, 'Alt+↓: the lane below');
  await waitFor(A, ([id, who]) => {
    const g = window.txxt.grid, it = g.byId.get(id), row = g.rows.find((r) => r.id === who);
    return it && row && it.y >= row.y && it.y < row.y + row.h;
  }, [id, lanes[n - 2]], 'the grid draws it in that lane');
  await A.keyboard.press('Control+z');
  await until(B, id, `t.assignee === '${lanes[n - 3]}'`, 'undo gives it back');
  const slot = slotOf(await task(B, id));
  await A.keyboard.press('Alt+ArrowRight');
  await until(B, id, `t.date === ${slot[0] + 1} && t.start === ${slot[1]}`, 'Alt+→ still moves it a day');
  await A.keyboard.press('?');
  await A.waitForSelector('dialog#help[open]');
  assert.match(await A.textContent('#help'), /people layout, to the person above or below/, 'the help lists it');
  await A.keyboard.press('Escape');
  await A.screenshot({ path: path.join(artifacts, 'place-people-keyboard.png') });
  await A.focus('#grid');
  await A.keyboard.press('Escape');
  await A.keyboard.press('Alt+p');
  await waitFor(A, () => window.txxt.state.layout === 'time', null, 'the time layout again');
});

test('the one-day view turns with the same keys; ? lists every key', async () => {
  await A.focus('#grid');
  await A.keyboard.press('Escape');
  await A.keyboard.press('Alt+c');
  await waitFor(A, () => window.txxt.state.collapsed && window.txxt.grid.collapse === 1, null, 'the one-day view');
  const d0 = await A.evaluate(() => window.txxt.state.date);
  await A.keyboard.press('PageDown');
  await waitFor(A, (d) => window.txxt.state.date === d + 1, d0, 'PageDown: the next day');
  await A.keyboard.press('ArrowLeft');
  await waitFor(A, (d) => window.txxt.state.date === d, d0, 'ArrowLeft past the day: the day before');
  await A.keyboard.press('Alt+c');
  await waitFor(A, () => !window.txxt.state.collapsed, null, 'the week again');

  await A.keyboard.press('?');
  await A.waitForSelector('dialog#help[open]');
  const text = await A.textContent('#help');
  for (const k of ['Ctrl+Z', 'Ctrl+Shift+Z', 'Alt+↑', 'Shift+Alt+↓', 'N', 'P', 'Ctrl+V', 'PageDown', '?']) assert.ok(text.includes(k), `the help lists ${k}`);
  await A.screenshot({ path: path.join(artifacts, 'place-help.png') });
  await A.keyboard.press('Escape');
  await waitFor(A, () => !document.querySelector('dialog#help').open, null, 'Esc closes the help');
});

/** axe-core's serious and critical findings on the page as it is now. */
async function axe(page, what) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  assert.deepEqual(found, [], `axe on ${what}`);
}

test('the tasks shown are a labelled, focusable list in step with the canvas; a status change is announced', async () => {
  await A.keyboard.press('Escape');
  const w = await week(A);
  await waitFor(A, () => {
    const ids = [...document.querySelectorAll('#a11y-tasks button')].map((b) => b.dataset.id);
    const drawn = new Set([...window.txxt.grid.items.map((i) => i.task.id), ...window.txxt.grid.chips.flatMap((c) => c.tasks.map((t) => t.id))]);
    return ids.length > 0 && ids.length === drawn.size && ids.every((id) => drawn.has(id));
  }, null, 'the list holds every task the week draws');
  const id = await movable(A);
  const t = await task(A, id);
  const label = await A.textContent(`#a11y-tasks button[data-id="${id}"]`);
  for (const part of [t.title, 'Scheduled']) assert.ok(label.includes(part), `the label says ${part}: ${label}`);
  assert.match(label, /\d\d:\d\d–\d\d:\d\d/, 'and the time');
  await A.focus(`#a11y-tasks button[data-id="${id}"]`);
  await waitFor(A, (id) => window.txxt.selected === id && !document.getElementById('card').hidden, id, 'focus selects the task and shows its card');
  await B.evaluate((id) => window.txxt.conn.send({ type: 'StartTask', task: id }), id);
  await waitFor(A, (title) => document.getElementById('a11y-live').textContent.includes(`${title}: Active`), t.title, 'the status change is announced');
  await waitFor(A, (id) => document.querySelector(`#a11y-tasks button[data-id="${id}"]`).textContent.endsWith('Active'), id, 'the label follows');
  assert.equal(await A.evaluate(() => document.activeElement?.dataset?.id), id, 'the focused task keeps its focus');
  assert.equal(await week(A), w);

  // More tasks than a page (a page of 5 here, 300 in use): the pagers
  // reach every one from the keyboard, and the page follows the selection.
  const all = await A.evaluate(() => new Set([...window.txxt.grid.items.map((i) => i.task.id), ...window.txxt.grid.chips.flatMap((c) => c.tasks.map((t) => t.id))]).size);
  assert.ok(all > 10, `the demo week has more than two pages of 5 (${all})`);
  await A.evaluate(() => { window.txxt.a11y.size = 5; window.txxt.a11y.page = 0; window.txxt.a11y.sync(window.txxt.a11y.last, true); });
  const pageIds = () => A.evaluate(() => [...document.querySelectorAll('#a11y-tasks button[data-id]')].map((b) => b.dataset.id));
  assert.equal((await pageIds()).length, 5);
  assert.equal(await A.getAttribute('#a11y-tasks', 'aria-label'), `Tasks shown, 1–5 of ${all}`);
  const seen = new Set(await pageIds());
  await A.focus('#a11y-tasks button[data-id]');
  for (let k = 0; k < 5; k++) await A.keyboard.press('Tab');
  assert.match(await A.evaluate(() => document.activeElement.textContent), /^Next 5 tasks \(6–10 of/, 'Tab from the page\'s last task: the next page\'s button');
  await A.keyboard.press('Enter');
  const second = await pageIds();
  assert.equal(await A.evaluate(() => document.activeElement.dataset.id), second[0], 'the focus on the next page\'s first task');
  await waitFor(A, (id) => window.txxt.selected === id, second[0], 'which is selected');
  for (let k = 0; k < 100 && await A.$('#a11y-tasks li:last-child .pager'); k++) {
    for (const x of await pageIds()) seen.add(x);
    await A.focus('#a11y-tasks li:last-child .pager');
    await A.keyboard.press('Enter');
  }
  for (const x of await pageIds()) seen.add(x);
  assert.equal(seen.size, all, 'every task shown is reached, page by page');
  await A.focus('#a11y-tasks li:first-child .pager');
  await A.keyboard.press('Enter');
  assert.match(await A.getAttribute('#a11y-tasks', 'aria-label'), /^Tasks shown, \d+–\d+ of/, 'and back');
  // A task selected on the canvas brings its page.
  const first = await A.evaluate(() => [...document.querySelectorAll('#a11y-tasks button[data-id]')][0].dataset.id);
  const target = await A.evaluate((seen) => seen.find((x) => !document.querySelector(`#a11y-tasks button[data-id="${x}"]`)), [...seen]);
  assert.ok(target && target !== first);
  await A.evaluate((id) => window.txxt.select(id), target);
  await waitFor(A, (id) => document.querySelector(`#a11y-tasks button[data-id="${id}"]`)?.getAttribute('aria-current') === 'true', target, 'the selected task\'s page');
  await A.evaluate(() => { window.txxt.a11y.size = 300; window.txxt.syncA11y(); });
  await waitFor(A, (n) => document.querySelectorAll('#a11y-tasks button[data-id]').length === n && !document.querySelector('#a11y-tasks .pager'), all, 'one page of 300 again');
});

test('times are the team\'s: a browser in another zone is told which', async () => {
  const team = await A.evaluate(() => window.txxt.settings.time_zone);
  const other = team === 'America/New_York' ? 'Asia/Tokyo' : 'America/New_York';
  const away = await login(BOB, 'bob-password', { timezoneId: other });
  await waitFor(away, (team) => { const n = document.getElementById('zone-note'); return n && !n.hidden && n.textContent === `times in ${team}`; }, team, 'the note says the team\'s zone');
  await away.screenshot({ path: path.join(artifacts, 'place-zone-note.png') });
  await away.context().close();
  const home = await login(BOB, 'bob-password', { timezoneId: team });
  assert.equal(await home.isHidden('#zone-note'), true, 'no note in the team\'s own zone');
  await home.context().close();
});

test('axe finds nothing serious on the login page, the week, the person layout, the month and the admin panel', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(`${url}/t/demo/`);
  await page.waitForSelector('#login:not([hidden])');
  await axe(page, 'the login page');
  await ctx.close();

  await A.keyboard.press('Escape');
  await axe(A, 'the week');
  await A.keyboard.press('Alt+p');
  await waitFor(A, () => window.txxt.state.layout === 'person', null, 'the person layout');
  await axe(A, 'the person layout');
  await A.keyboard.press('Alt+p');
  await A.keyboard.press('Alt+m');
  await A.waitForSelector('#month .cell');
  await axe(A, 'the month');
  await A.keyboard.press('Alt+m');
  await A.click('#admin-open');
  await A.waitForSelector('dialog[open]');
  await axe(A, 'the admin panel');
  await A.screenshot({ path: path.join(artifacts, 'place-admin.png') });
  await A.keyboard.press('Escape');
});

test('no page errors', () => {
  assert.deepEqual(pageErrors, []);
});
