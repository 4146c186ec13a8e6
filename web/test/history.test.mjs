// End to end, the past and the calendar feeds: the real txxt binary (a
// demo team), the client in headless Chromium.
//
// - A calendar feed made over the API, fetched without a session, parsed
//   by a real iCalendar parser (ical.js): its events, with the team's time
//   zone (Europe/Berlin) across a daylight-saving change, at the right
//   UTC instants; revoked mid-test, it answers 404.
// - The history of a task in the side panel, the team's activity, a feed
//   made and revoked in the page, and the plan as it stood: opened
//   read-only, marked as the past, and back.
//
// Screenshots go to test-artifacts/ at the repository's root.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import ICAL from 'ical.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const artifacts = path.join(root, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let dir, server, log, browser, url, page;
const pageErrors = [];

process.on('exit', () => server?.kill('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => { server?.kill('SIGKILL'); process.exit(128 + (sig === 'SIGINT' ? 2 : 15)); });
}

/** Starts `txxt serve --demo` and resolves with its URL within 30 s. */
function serve(bin, data) {
  return new Promise((resolve, reject) => {
    server = spawn(bin, ['serve', '--demo', '--data', data, '--addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
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

const waitFor = (fn, arg, what) => page.waitForFunction(fn, arg, { timeout: 10000 }).catch((e) => { throw new Error(`${what}: ${e.message}`); });

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'txxt-history-'));
  mkdirSync(artifacts, { recursive: true });
  log = createWriteStream(path.join(artifacts, 'history-server.log'));
  const bin = path.join(dir, 'txxt');
  execFileSync('go', ['build', '-o', bin, './cmd/txxt'], { cwd: root, stdio: 'inherit' });
  url = await serve(bin, path.join(dir, 'data'));
  browser = await chromium.launch({ executablePath: CHROMIUM, timeout: 60000 });
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(url);
  await page.fill('input[name=username]', 'demo');
  await page.fill('input[name=password]', 'demo');
  await page.click('button[type=submit]');
  await waitFor(() => window.txxt?.world.loaded && window.txxt.conn.state === 'live', null, 'the page goes live');
}, { timeout: 300000 });

after(async () => {
  await page?.screenshot({ path: path.join(artifacts, 'history-final.png') }).catch(() => {});
  await browser?.close();
  await new Promise((resolve) => {
    if (!server || server.exitCode !== null) return resolve();
    const timer = setTimeout(() => server.kill('SIGKILL'), 10000);
    server.removeAllListeners('exit');
    server.on('exit', () => { clearTimeout(timer); resolve(); });
    server.kill('SIGTERM');
  });
  log?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Days since 1970-01-01 of a calendar date. */
const day = (y, m, d) => Date.UTC(y, m - 1, d) / 86400000;

test('a calendar feed parses with ical.js, places tasks across a DST change, and is gone once revoked', async () => {
  // Berlin's clocks go forward on Sunday 28 March 2027: 09:00 is 08:00Z
  // on the Friday before and 07:00Z on the Monday after.
  const made = await page.evaluate(async ([before, afterDst]) => {
    const t = window.txxt, c = t.conn;
    const me = await (await fetch('/api/me')).json();
    const service = [...t.world.services.keys()][0];
    await c.send({ type: 'SetSchedule', workdayStart: 480, workdayEnd: 1080, firstDay: 0, timeZone: 'Europe/Berlin' });
    const ids = [];
    for (const [date, text] of [[before, 'Before the change; with, commas'], [afterDst, 'After the change']]) {
      const ack = await c.send({ type: 'CreateTask', priority: 1, service, assignee: me.id, date, start: 540, duration: 90, text });
      ids.push(ack.revision);
    }
    const res = await fetch('/api/feeds', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ scope: 'me' }) });
    return { status: res.status, feed: await res.json(), service: t.world.services.get(service).name };
  }, [day(2027, 3, 26), day(2027, 3, 29)]);
  assert.equal(made.status, 200, JSON.stringify(made.feed));
  assert.match(made.feed.url, /\/feeds\/[A-Za-z0-9_-]{40,}\.ics$/);

  const res = await fetch(made.feed.url); // no cookie, no session: the token is the credential
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/calendar/);
  const text = await res.text();
  for (const line of text.split('\r\n')) assert.ok(Buffer.byteLength(line) <= 75, `a line of ${Buffer.byteLength(line)} octets: ${line}`);

  const cal = new ICAL.Component(ICAL.parse(text));
  const vtz = cal.getFirstSubcomponent('vtimezone');
  assert.ok(vtz, 'the feed has a VTIMEZONE');
  assert.equal(vtz.getFirstPropertyValue('tzid'), 'Europe/Berlin');
  ICAL.TimezoneService.reset(); // use the feed's own zone, as a calendar app does
  ICAL.TimezoneService.register(vtz);
  const events = cal.getAllSubcomponents('vevent').map((v) => new ICAL.Event(v));
  const byTitle = new Map(events.map((e) => [e.summary, e]));
  const before = byTitle.get('Before the change; with, commas'), afterDst = byTitle.get('After the change');
  assert.ok(before && afterDst, `the feed's events: ${[...byTitle.keys()].join(' | ')}`);
  assert.equal(before.startDate.toJSDate().toISOString(), '2027-03-26T08:00:00.000Z');
  assert.equal(before.endDate.toJSDate().toISOString(), '2027-03-26T09:30:00.000Z');
  assert.equal(afterDst.startDate.toJSDate().toISOString(), '2027-03-29T07:00:00.000Z');
  assert.equal(afterDst.endDate.toJSDate().toISOString(), '2027-03-29T08:30:00.000Z');
  assert.match(afterDst.uid, /^[0-9a-f-]{36}@/);
  assert.match(afterDst.description, new RegExp(`Service: ${made.service}`));
  assert.match(afterDst.description, /Status: planned/);
  assert.match(afterDst.description, /Assignee: demo/);
  // The same task keeps its UID in the next fetch.
  const again = new ICAL.Component(ICAL.parse(await (await fetch(made.feed.url)).text()));
  assert.ok(again.getAllSubcomponents('vevent').some((v) => v.getFirstPropertyValue('uid') === afterDst.uid));

  // Listed for its owner; revoked, the same URL answers 404.
  const listed = await page.evaluate(async () => (await fetch('/api/feeds')).json());
  assert.ok(listed.some((f) => f.id === made.feed.id));
  const revoked = await page.evaluate(async (id) => (await fetch(`/api/feeds/${id}`, { method: 'DELETE' })).status, made.feed.id);
  assert.equal(revoked, 204);
  const gone = await fetch(made.feed.url);
  assert.equal(gone.status, 404);
  assert.equal((await gone.json()).code, 'NOT_FOUND');
});

test('a task\'s history in the side panel, the activity, and the plan as it stood: opened read-only, compared with now, and back', async () => {
  // A task moved once: its history says from where to where, by whom.
  const id = await page.evaluate(async () => {
    const t = window.txxt;
    const task = [...t.world.tasks.values()].find((x) => x.status === 1 && x.start + x.duration <= 1380 - 120);
    await t.conn.send({ type: 'MoveTask', task: task.id, date: task.date, start: task.start + 60, duration: task.duration });
    t.select(task.id);
    return task.id;
  });
  await page.click('#history-section summary');
  await waitFor(() => [...document.querySelectorAll('#history-list .change')].some((li) => /^moved from .* to /.test(li.textContent) && / by demo, /.test(li.textContent)),
    null, 'the side panel lists the move with who made it');
  await page.screenshot({ path: path.join(artifacts, 'history-side.png') });

  // A task added after the move, on the Saturday of the week in view (the
  // demo leaves weekends empty): the past has no such task.
  const added = await page.evaluate(async (id) => {
    const t = window.txxt, moved = t.world.tasks.get(id);
    await t.conn.send({ type: 'CreateTask', priority: 1, service: moved.service, assignee: '', date: t.week() + 5, start: 600, duration: 60, text: 'Added since' });
    return [...t.world.tasks.values()].find((x) => x.title === 'Added since').id;
  }, id);

  // The activity lists both, each from where to where; "see then" on the change before them opens the past.
  await page.click('#activity-open');
  await waitFor(() => document.querySelectorAll('#activity-list .change').length >= 3, null, 'the activity lists changes');
  const second = await page.textContent('#activity-list .change:nth-child(2)');
  assert.match(second, /moved from .* to .* by demo/);
  await page.click('#activity-list .change:nth-child(3) button.then');
  await waitFor(() => !document.getElementById('past-bar').hidden, null, 'the past bar shows');
  assert.match(await page.textContent('#past-when'), /^You are looking at .*revision \d+/);
  assert.match(await page.textContent('#past-diff'), /Since then: 1 moved .*, 1 added \(1 drawn pale, outlined green\)/);
  // Drawn into the past, or behind its slot's "+N" chip on a busy day.
  const laidOut = (added) => {
    const g = window.txxt.grid;
    return g.items.some((/** @type {any} */ it) => it.task.id === added) || g.chips.some((/** @type {any} */ c) => c.tasks.some((/** @type {any} */ x) => x.id === added));
  };
  await waitFor(laidOut, added, 'the grid lays out the task added since in the past');
  const past = await page.evaluate(([id, added]) => {
    const t = window.txxt, then = t.grid.world.tasks.get(id), now = t.world.tasks.get(id);
    const ghost = t.grid.world.tasks.get(added);
    return {
      separate: t.grid.world !== t.world, moved: now.start - then.start, mark: t.grid.mark(then),
      ghost: ghost && t.grid.mark(ghost),
    };
  }, [id, added]);
  assert.deepEqual(past, { separate: true, moved: 60, mark: 'moved', ghost: 'added' });
  await page.screenshot({ path: path.join(artifacts, 'history-past.png') });
  const size = page.viewportSize();
  for (const [w, h] of [[1440, 900], [800, 600], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.screenshot({ path: path.join(artifacts, `history-past-${w}x${h}.png`) });
  }
  if (size) await page.setViewportSize(size);
  // Read-only: a command is refused on the page, the server sees none.
  const rev = await page.evaluate(() => window.txxt.world.revision);
  const refused = await page.evaluate((id) => window.txxt.send({ type: 'CompleteTask', task: id }).then(() => 'sent', (e) => e.message), id);
  assert.equal(refused, 'the past');
  assert.equal(await page.evaluate(() => window.txxt.world.revision), rev);

  // A feed made in the page: its address shown once, listed, revoked.
  await page.click('#feeds summary');
  await waitFor(() => document.getElementById('feed-scope').options.length >= 3, null, 'the feed choices');
  await page.click('#feed-form button[type=submit]');
  await waitFor(() => /\/feeds\/.+\.ics$/.test(document.getElementById('feed-url').value) && document.querySelectorAll('#feed-list .change').length === 1, null, 'the new feed\'s address and its entry');
  const feedURL = await page.inputValue('#feed-url');
  assert.equal((await fetch(feedURL)).status, 200);
  await page.click('#feed-list button.revoke');
  await waitFor(() => document.querySelectorAll('#feed-list .change').length === 0, null, 'the feed is gone from the list');
  assert.equal((await fetch(feedURL)).status, 404);

  await page.click('#past-back');
  await waitFor(() => document.getElementById('past-bar').hidden && window.txxt.grid.world === window.txxt.world && !document.body.classList.contains('past'),
    null, 'back to now');
  assert.deepEqual(pageErrors, []);
});
