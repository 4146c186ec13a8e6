// End to end: the real txxt binary with a temporary save file, and the
// client in headless Chromium (Debian's chromium, driven by playwright-core),
// as two users in two browser contexts. Every gesture is made with the
// mouse and keyboard; every check reads what the other user's page drew
// from the server's events.
//
// Artifacts (screenshots, the server's log) go to test-artifacts/ at the
// repository's root.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const artifacts = path.join(root, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const BOB = 'bob-the-tester';

let dir, bin, db, addr, url, server, log, browser, A, B;
const pageErrors = [];

// The server dies with this process on every way out: a normal end, an
// uncaught error (both run 'exit' handlers), and SIGINT or SIGTERM (which
// would skip them). Only a SIGKILL of node itself cannot be caught.
process.on('exit', () => server?.kill('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => { server?.kill('SIGKILL'); process.exit(128 + (sig === 'SIGINT' ? 2 : 15)); });
}

/** Starts `txxt serve` on addr (127.0.0.1:0 the first time) and resolves with its URL within 30 s. */
function serve(extra = []) {
  return new Promise((resolve, reject) => {
    server = spawn(bin, ['serve', '--data', db, '--addr', addr, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr.pipe(log, { end: false });
    const timer = setTimeout(() => {
      server.kill('SIGKILL');
      reject(new Error('txxt serve printed no address within 30 s'));
    }, 30000);
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

/** Stops the server: SIGTERM, then SIGKILL when it has not exited within 10 s. */
function stop() {
  return new Promise((resolve) => {
    if (!server || server.exitCode !== null || server.signalCode !== null) return resolve();
    const timer = setTimeout(() => server.kill('SIGKILL'), 10000);
    server.removeAllListeners('exit');
    server.on('exit', () => { clearTimeout(timer); resolve(); });
    server.kill('SIGTERM');
  });
}

async function login(user, password) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${user}: ${e.message}`));
  await page.goto(url);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await live(page);
  return page;
}

const live = (page) => page.waitForFunction(() => window.txxt?.world.loaded && window.txxt.conn.state === 'live');

/** Waits until fn(task) holds for the task id on the page (task undefined if absent). */
function until(page, id, fn, what) {
  return page.waitForFunction(([id, src]) => {
    const t = window.txxt.world.tasks.get(id);
    return new Function('t', `return ${src}`)(t);
  }, [id, fn], { timeout: 10000, polling: 50 }).catch((e) => { throw new Error(`${what}: ${e.message}`); });
}

/** Waits until the page's copy is at the server's revision. */
async function caughtUp(page) {
  const { revision } = await (await fetch(`${url}/api/status`, { signal: AbortSignal.timeout(10000) })).json();
  await page.waitForFunction((r) => window.txxt.world.revision === r, revision, { timeout: 10000 })
    .catch(async () => assert.fail(`the page is at ${await page.evaluate(() => window.txxt.world.revision)}, the server at ${revision}`));
}

/** until on both pages: B (the other user) first, then A (who acted). */
async function both(id, fn, what) {
  await until(B, id, fn, `B: ${what}`);
  await until(A, id, fn, `A: ${what}`);
}

const find = (page, title) => page.evaluate((title) => [...window.txxt.world.tasks.values()].find((t) => t.title === title)?.id, title);
const week = (page) => page.evaluate(() => window.txxt.week());
const rect = (page, id) => page.evaluate((id) => window.txxt.grid.rectOf(id), id);
const point = (page, date, minute) => page.evaluate(([d, m]) => window.txxt.grid.pointAt(d, m), [date, minute]);
/** A point on a block that no other block covers (blocks overlap in the cascade). */
const grabPoint = (page, id) => page.evaluate((id) => window.txxt.grid.grabPoint(id), id);
/** Pixels per minute in the working day. */
const mpx = (page) => page.evaluate(() => window.txxt.grid.axis.on);
const task = (page, id) => page.evaluate((id) => ({ ...window.txxt.world.tasks.get(id) }), id);

async function drag(page, from, to, steps = 10) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x + 3, from.y + 6, { steps: 2 });
  await page.mouse.move(to.x, to.y, { steps });
  await page.mouse.up();
}

async function click(page, id) {
  const p = await grabPoint(page, id);
  assert.ok(p, `task ${id} is on the grid`);
  await page.mouse.click(p.x, p.y);
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'txxt-e2e-'));
  mkdirSync(artifacts, { recursive: true });
  log = createWriteStream(path.join(artifacts, 'e2e-server.log'));
  bin = path.join(dir, 'txxt');
  execFileSync('go', ['build', '-o', bin, './cmd/txxt'], { cwd: root, stdio: 'inherit' });
  db = path.join(dir, 'e2e.db');
  addr = '127.0.0.1:0';
  // Seed the demo world, then add a second, non-admin user (a member of
  // the demo team: a login in no team sees no calendar) while the
  // server is stopped (the save file is the server's while it runs).
  url = await serve(['--demo']);
  addr = new URL(url).host;
  await stop();
  execFileSync(bin, ['user', 'add', '--data', db, '--team', 'demo', BOB], { input: 'bob-password\n' });
  url = await serve();
  browser = await chromium.launch({ executablePath: CHROMIUM, timeout: 60000 });
}, { timeout: 300000 }); // the go build comes first

after(async () => {
  // The last state of both pages, for whoever reads a failure.
  for (const [name, page] of [['A', A], ['B', B]]) await page?.screenshot({ path: path.join(artifacts, `final-${name}.png`) }).catch(() => {});
  await browser?.close();
  await stop();
  log?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, { timeout: 60000 });

test('a wrong password is refused with a message; the right one opens the week', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(url);
  await page.fill('input[name=username]', 'demo');
  await page.fill('input[name=password]', 'wrong');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent !== '');
  assert.match(await page.textContent('#login-error'), /password|user/i);
  await ctx.close();

  A = await login('demo', 'demo');
  B = await login(BOB, 'bob-password');
  assert.equal(await A.isVisible('#grid'), true);
  await A.waitForFunction(() => document.querySelectorAll('#presence span').length === 2);
  await B.evaluate(() => { window.notReloaded = true; });
});

test('a move in one page appears in the other', async () => {
  const w = await week(A);
  // A scheduled weekday task with room to grab in the middle.
  const id = await A.evaluate(() => {
    const g = window.txxt.grid;
    return [...window.txxt.world.tasks.values()].find((t) => {
      const r = g.rectOf(t.id);
      return t.status === 1 && t.start >= 540 && t.start + t.duration <= 840 && t.duration >= 60 && r && r.w >= 12;
    })?.id;
  });
  assert.ok(id, 'the demo week has a task to move');
  const t = await task(A, id), r = await rect(A, id), from = await grabPoint(A, id);
  const to = await point(A, w + 5, 600); // Saturday, 10:00, grabbed as far into the block
  to.y += from.y - r.y;
  await drag(A, from, to);
  await both(id, `t && t.date === ${w + 5} && t.start === 600 && t.duration === ${t.duration}`, 'sees the move');
});

test('create a task by double-click and title it in place; rename it; resize both edges', async () => {
  const w = await week(A);
  const p = await point(A, w + 6, 9 * 60 + 10); // Sunday 09:10 → the 09:00 slot
  await A.mouse.dblclick(p.x, p.y);
  await A.waitForSelector('input.editor');
  await A.keyboard.type('E2E created');
  await A.keyboard.press('Enter');
  await B.waitForFunction(() => [...window.txxt.world.tasks.values()].some((t) => t.title === 'E2E created'));
  const id = await find(B, 'E2E created');
  const t = await task(B, id);
  assert.deepEqual([t.date, t.start, t.duration, t.status], [w + 6, 540, 30, 1]);

  await A.waitForFunction((id) => window.txxt.selected === id, id);
  await A.keyboard.press('F2');
  await A.waitForSelector('input.editor');
  await A.fill('input.editor', 'E2E renamed');
  await A.keyboard.press('Enter');
  await both(id, `t.title === 'E2E renamed'`, 'sees the rename');

  let r = await rect(A, id);
  const k = await mpx(A);
  await drag(A, { x: r.x + r.w / 2, y: r.y + r.h - 2 }, { x: r.x + r.w / 2, y: r.y + r.h - 2 + 30 * k });
  await both(id, `t.start === 540 && t.duration === 60`, 'sees the bottom edge resized');
  r = await rect(A, id);
  await drag(A, { x: r.x + r.w / 2, y: r.y + 2 }, { x: r.x + r.w / 2, y: r.y + 2 - 15 * k });
  await both(id, `t.start === 525 && t.duration === 75`, 'sees the top edge resized');
});

test('Alt-drag clones, complete, delete with undo', async () => {
  const w = await week(A);
  const id = await find(A, 'E2E renamed');
  const r = await rect(A, id);
  const before = await A.evaluate(() => window.txxt.world.tasks.size);
  // Alt copies; Shift snaps the copy's start onto the half hour (12:00)
  await A.keyboard.down('Alt');
  await A.keyboard.down('Shift');
  // Grab it where no other block covers it (the demo's random tasks may
  // overlap its middle); the copy keeps that offset, and Shift snaps it.
  const grab = await grabPoint(A, id);
  assert.ok(grab, 'the block can be grabbed');
  const into = (grab.y - r.y) / (await mpx(A));
  await drag(A, grab, await point(A, w + 5, 12 * 60 + into));
  await A.keyboard.up('Shift');
  await A.keyboard.up('Alt');
  await B.waitForFunction((n) => window.txxt.world.tasks.size === n + 1, before);
  const copies = await B.evaluate((orig) => [...window.txxt.world.tasks.values()].filter((t) => t.title === 'E2E renamed' && t.id !== orig).map((t) => ({ ...t })), id);
  const copy = copies.find((t) => t.start === 720 && t.date === w + 5)?.id;
  assert.ok(copy, `the copy is at 12:00 on Saturday: the copies are ${JSON.stringify(copies)}; grabbed ${JSON.stringify(grab)} in ${JSON.stringify(r)}`);
  await until(A, copy, 't !== undefined', 'A has the copy');
  await until(B, id, `t.start === 525 && t.date === ${w + 6}`, 'the original stays');

  await click(A, id);
  await A.keyboard.press('c');
  await both(id, 't.status === 3', 'sees it completed');

  await click(A, copy);
  await A.keyboard.press('Delete');
  await both(copy, 't === undefined', 'sees the copy deleted');
  await A.click('.toast button:text("Undo")');
  await B.waitForFunction(() => [...window.txxt.world.tasks.values()].filter((t) => t.title === 'E2E renamed' && t.start === 720).length === 1);
});

test('schedule from the staging panel, unschedule back to it', async () => {
  // Nothing selected: a side panel left open by the test before floats
  // over the staging list (or the drop point) at this width.
  await A.evaluate(() => window.txxt.select(null));
  const w = await week(A);
  await A.fill('#stage-new input', 'E2E staged');
  await A.keyboard.press('Enter');
  await A.waitForSelector('#staged li:has-text("E2E staged")');
  const id = await find(A, 'E2E staged');
  await both(id, 't && t.status === 0', 'sees it staged');
  const item = A.locator('#staged li', { hasText: 'E2E staged' });
  await item.scrollIntoViewIfNeeded();
  const li = await item.boundingBox();
  await drag(A, { x: li.x + 20, y: li.y + 10 }, await point(A, w + 5, 15 * 60 + 10));
  await both(id, `t.status === 1 && t.date === ${w + 5} && t.start === 900 && t.duration === 30`, 'sees it scheduled');

  const from = await grabPoint(A, id);
  const panel = await A.locator('#staging').boundingBox();
  await drag(A, from, { x: panel.x + panel.width / 2, y: panel.y + panel.height / 2 });
  await both(id, 't.status === 0', 'sees it unscheduled');
  await B.waitForSelector('#staged li:has-text("E2E staged")');
});

test('the side panel sets priority, service and assignee', async () => {
  const id = await find(A, 'E2E staged');
  await A.click(`#staged li[data-id="${id}"]`);
  await A.waitForSelector('#side-task:not([hidden])');
  const t = await task(A, id);
  const [service, assignee] = await A.evaluate((t) => [
    [...window.txxt.world.services.keys()].find((s) => s !== t.service),
    [...window.txxt.world.users.keys()].find((u) => u !== t.assignee),
  ], t);
  assert.ok(service && assignee, 'the demo has another service and a user');
  await A.selectOption('#side-priority', '3');
  await both(id, 't.priority === 3', 'sees the priority');
  await A.selectOption('#side-service', service);
  await both(id, `t.service === '${service}'`, 'sees the service');
  await A.selectOption('#side-assignee', assignee);
  await both(id, `t.assignee === '${assignee}'`, 'sees the assignee');
  // The panel shows what the server answered, not what was picked.
  assert.equal(await A.inputValue('#side-service'), service);
  assert.equal(await B.evaluate((id) => window.txxt.world.tasks.get(id).title, id), 'E2E staged');
});

test('a title past 128 bytes is refused in the page with the reason; the server\'s own refusal is shown in its words', async () => {
  const id = await find(A, 'E2E staged');
  await A.click(`#staged li[data-id="${id}"]`);
  await A.keyboard.press('F2');
  await A.waitForSelector('input.editor');
  await A.fill('input.editor', 'é'.repeat(70)); // 140 bytes of UTF-8: over the 128-byte limit
  assert.equal(await A.textContent('.editor-note .title-counter'), '140/128 bytes (é counts as 2)');
  await A.keyboard.press('Enter');
  assert.equal(await A.textContent('.editor-note .reason'), 'A title can be at most 128 bytes: this one is 140 (é counts as 2).');
  assert.equal(await A.inputValue('input.editor'), 'é'.repeat(70), 'the editor keeps the text');
  assert.equal(await A.evaluate(() => window.txxt.pending.size), 0, 'nothing was sent');
  await A.keyboard.press('Escape');
  // Sent anyway (as an older client would), the server refuses it in its words.
  const said = await A.evaluate((id) => window.txxt.send({ type: 'RenameTask', task: id, text: 'é'.repeat(70) }, id).then(() => '', (e) => e.message), id);
  assert.equal(said, 'A title can be at most 128 bytes: this one is 140 (é counts as 2).');
  const toast = await A.waitForSelector('.toast.error span');
  // The server's words, and nothing else: no command's name.
  assert.equal(await toast.textContent(), 'A title can be at most 128 bytes: this one is 140 (é counts as 2).');
  assert.equal((await task(B, id)).title, 'E2E staged');
});

test('a service\'s colour and archive and the team\'s schedule reach the other page live', async () => {
  // Sent as the admin's commands (the admin screens are not this page's).
  const send = (cmd) => A.evaluate((cmd) => window.txxt.conn.send(cmd).then(() => 0, (e) => e.code), cmd);
  const staged = await A.evaluate(() => [...window.txxt.world.tasks.values()].find((t) => t.status === 0));
  assert.ok(staged, 'the demo has a staged task');
  const svc = staged.service;
  assert.equal(await send({ type: 'RecolorService', service: svc, color: 0x123456 }), 0);
  await B.waitForFunction((svc) => window.txxt.world.services.get(svc).color === 0x123456, svc);
  // The staging list draws the chosen colour.
  await B.waitForFunction(([id]) => document.querySelector(`#staged li[data-id="${id}"]`)?.style.borderLeftColor === 'rgb(18, 52, 86)', [staged.id]);

  assert.equal(await send({ type: 'ArchiveService', service: svc, archived: true }), 0);
  await B.waitForFunction((svc) => window.txxt.world.services.get(svc).archived === true, svc);
  assert.equal(await send({ type: 'CreateTask', priority: 1, service: svc, assignee: '', date: 0xffff, start: 0, duration: 0, text: 'into the archive' }), 29,
    'SERVICE_ARCHIVED');
  // The member may not administer.
  assert.equal(await B.evaluate((svc) => window.txxt.conn.send({ type: 'ArchiveService', service: svc, archived: false }).then(() => 0, (e) => e.code), svc), 30,
    'FORBIDDEN');
  assert.equal(await send({ type: 'ArchiveService', service: svc, archived: false }), 0);

  // A SetSchedule without working days keeps the team's (Monday to Friday).
  const berlin = { workdayStart: 540, workdayEnd: 1050, firstDay: 6, timeZone: 'Europe/Berlin' };
  assert.equal(await send({ type: 'SetSchedule', ...berlin }), 0);
  await B.waitForFunction((tz) => window.txxt.world.schedule.timeZone === tz, berlin.timeZone);
  assert.deepEqual(await B.evaluate(() => window.txxt.world.schedule), { ...berlin, workingDays: 0x1f });
  assert.equal(await send({ type: 'SetSchedule', ...berlin, timeZone: 'Not a zone' }), 32, 'INVALID_TIME_ZONE');
  await caughtUp(B);
});

test('month view and calendar collapse', async () => {
  await A.keyboard.press('Alt+m');
  await A.waitForSelector('#month .cell');
  assert.equal(await A.isHidden('#grid'), true);
  assert.equal(await A.locator('#month .cell').count(), 42);
  await A.screenshot({ path: path.join(artifacts, 'month.png') });
  await A.keyboard.press('Alt+m');
  await A.keyboard.press('Alt+c');
  await A.waitForFunction(() => window.txxt.grid.collapse === 1);
  await A.screenshot({ path: path.join(artifacts, 'collapsed.png') });
  await A.keyboard.press('Alt+c');
  await A.waitForFunction(() => window.txxt.grid.collapse === 0);
});

test('the server restarts; both pages reconnect and catch up without a reload', async () => {
  await stop();
  await A.waitForFunction(() => window.txxt.conn.state !== 'live');
  url = await serve();
  await live(A);
  await live(B);
  const id = await find(A, 'E2E staged');
  await A.click(`#staged li[data-id="${id}"]`);
  await A.click('#act-delete');
  await both(id, 't === undefined', 'sees a change made after the restart');
  await caughtUp(A);
  await caughtUp(B);
  assert.equal(await B.evaluate(() => window.notReloaded), true, 'B was not reloaded');
  assert.equal(await B.evaluate(() => window.txxt.world.schedule.timeZone), 'Europe/Berlin', 'the schedule survives the restart');
});

test('a revision gap is detected and resynced', async () => {
  // B loses one event (its copy never sees it): the next one does not
  // follow, and B must ask the server for what it missed.
  await B.evaluate(() => {
    const w = window.txxt.world, apply = w.apply.bind(w);
    let lost = false;
    w.apply = (ev) => (lost ? apply(ev) : void (lost = true));
  });
  const id = await A.evaluate(() => [...window.txxt.world.tasks.values()].find((t) => t.status === 1 && t.priority === 0)?.id);
  await A.evaluate((id) => window.txxt.send({ type: 'SetPriority', task: id, priority: 3 }, id), id);
  await A.evaluate((id) => window.txxt.send({ type: 'SetPriority', task: id, priority: 2 }, id), id);
  await B.waitForFunction(() => window.txxt.conn.gaps === 1 && window.txxt.conn.state === 'live');
  await both(id, 't.priority === 2', 'caught up after the gap');
  await caughtUp(B);
});

test('the week view, as a screenshot artifact; no page errors', async () => {
  await A.click('#today');
  await A.waitForTimeout(200);
  await A.screenshot({ path: path.join(artifacts, 'week.png') });
  assert.deepEqual(pageErrors, []);
});

test('a page whose server speaks another protocol version is told to reload', async () => {
  // A Welcome of protocol 99, handed to A's connection as if it had come
  // from the socket: A stops and says to reload instead of misreading frames.
  await A.evaluate(() => {
    const f = new Uint8Array(145);
    f[0] = 0xf0; f[1] = 99;
    window.txxt.conn.receive(f.buffer);
  });
  const banner = await A.waitForSelector('#banner:not([hidden])');
  assert.match(await banner.textContent(), /protocol 99.*reload/);
  assert.equal(await A.evaluate(() => window.txxt.conn.stopped), true);
});

test('log out ends the session and shows the login page', async () => {
  await B.click('#logout');
  await B.waitForSelector('#login:not([hidden])');
  const r = await B.evaluate(() => fetch('/api/settings', { signal: AbortSignal.timeout(10000) }).then((r) => r.status));
  assert.equal(r, 401);
});
