// End to end, the first run of a team: the real txxt binary started
// without --demo on a new data directory, and the client in headless
// Chromium. The admin opens the setup link the server printed, makes a
// service and an invitation; a second person joins by the link and
// creates a task the admin's page sees live; a settings change reaches
// the other person's open page without a reload.
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

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const artifacts = path.join(root, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WIDE = { width: 1440, height: 900 }, PHONE = { width: 390, height: 844 };

let dir, server, log, browser, url, setupLink, A, B;
const pageErrors = [];

/** Starts `txxt serve` without --demo; resolves when it printed its URL and setup link. */
function serve(bin, data) {
  return new Promise((resolve, reject) => {
    server = spawn(bin, ['serve', '--data', data, '--addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr.pipe(log, { end: false });
    let out = '';
    server.stdout.on('data', (b) => {
      out += b;
      log.write(b);
      const at = /at (http:\/\/[^\s]+?)\/?\n/.exec(out), link = /^\s+(http:\/\/\S+\/setup\?token=\S+)\s*$/m.exec(out);
      if (at && link) resolve([at[1], link[1]]);
    });
    server.on('exit', (code) => reject(new Error(`txxt serve exited with ${code} before printing its setup link`)));
  });
}

const live = (page, what) => page.waitForFunction(() => window.txxt?.world.loaded && window.txxt.conn.state === 'live', null, { timeout: 10000 })
  .catch((e) => { throw new Error(`${what}: the page did not go live: ${e.message}`); });
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `teams-${name}.png`) });
const waitFor = (page, fn, arg, what) => page.waitForFunction(fn, arg, { timeout: 10000 }).catch((e) => { throw new Error(`${what}: ${e.message}`); });

async function newPage(who, viewport) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
  return page;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'txxt-teams-'));
  mkdirSync(artifacts, { recursive: true });
  log = createWriteStream(path.join(artifacts, 'teams-server.log'));
  const bin = path.join(dir, 'txxt');
  execFileSync('go', ['build', '-o', bin, './cmd/txxt'], { cwd: root, stdio: 'inherit' });
  [url, setupLink] = await serve(bin, path.join(dir, 'data'));
  browser = await chromium.launch({ executablePath: CHROMIUM });
});

after(async () => {
  for (const [name, page] of [['A', A], ['B', B]]) await page?.screenshot({ path: path.join(artifacts, `teams-final-${name}.png`) }).catch(() => {});
  await browser?.close();
  await new Promise((resolve) => {
    if (!server || server.exitCode !== null) return resolve();
    server.removeAllListeners('exit');
    server.on('exit', resolve);
    server.kill('SIGTERM');
  });
  log?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the first run: setup link → admin → service → invitation → the new member schedules a task, seen live', async () => {
  // Without the token the page says what to do; the server is not claimed.
  A = await newPage('admin', PHONE);
  await A.goto(`${url}/setup`);
  await waitFor(A, () => /token/.test(document.querySelector('#front .error')?.textContent || ''), null, 'the setup page without a token says so');

  await A.goto(setupLink);
  await A.fill('#front input[name=team]', 'Ops Berlin');
  await A.fill('#front input[name=username]', 'ann');
  await A.fill('#front input[name=password]', 'x');
  await A.click('#front button[type=submit]');
  await waitFor(A, () => /password/i.test(document.querySelector('#front .error').textContent), null, 'a short password is refused in the server\'s words');
  await shot(A, 'setup-phone');
  await A.setViewportSize(WIDE);
  await A.fill('#front input[name=password]', 'ann-password');
  await A.click('#front button[type=submit]');
  await A.waitForURL(/\/t\/ops-berlin\/(\?date=[-0-9]+)?$/, { timeout: 10000 }); // the page writes its place (the date) into the URL
  await live(A, 'the admin after setup');
  assert.equal(await A.isVisible('#guide'), true, 'the guide shows after setup');
  assert.equal(await A.isVisible('#admin-open'), true, 'the admin sees the admin panel button');
  await shot(A, 'guide');

  // A service, from the guide's button into the admin panel.
  await A.click('#guide-services');
  await A.fill('input[name=service-name]', 'Backups');
  await A.click('.pane-services button[type=submit]');
  await waitFor(A, () => [...window.txxt.world.services.values()].some((s) => s.name === 'Backups'), null, 'the service is in the admin\'s world');
  await waitFor(A, () => [...document.querySelectorAll('.pane-services input.service-name')].some((i) => i.value === 'Backups'), null, 'the panel lists the service');
  await shot(A, 'admin-services');

  // An invitation link, shown to copy.
  await A.click('.tabs button:has-text("Members")');
  await A.click('.pane-members button:has-text("Make a one-time link")');
  const link = await A.waitForSelector('input[name=invite-url]', { timeout: 10000 }).then((h) => h.inputValue());
  assert.match(link, /\/invite\?token=/);
  await shot(A, 'admin-members');
  await A.click('.tabs button:has-text("Close")');

  // The invited person joins on a phone-sized page, then works on a wide one.
  B = await newPage('bob', PHONE);
  await B.goto(link);
  await waitFor(B, () => /Ops Berlin/.test(document.querySelector('#front h1')?.textContent || ''), null, 'the invitation names the team');
  await shot(B, 'invite-phone');
  await B.fill('#front input[name=username]', 'bob');
  await B.fill('#front input[name=password]', 'bob-password');
  await B.click('#front button[type=submit]');
  await B.waitForURL(/\/t\/ops-berlin\/(\?date=[-0-9]+)?$/, { timeout: 10000 });
  await live(B, 'bob after joining');
  await shot(B, 'member-phone');
  await B.evaluate(() => { window.notReloaded = true; });
  assert.equal(await B.evaluate(() => document.getElementById('admin-open').hidden), true, 'a member never sees the admin panel, in the bar or behind ☰');
  await B.setViewportSize(WIDE);

  const w = await B.evaluate(() => window.txxt.week());
  // The grid lays itself out again after the resize: wait for the slot to be on screen.
  const p = await waitFor(B, ([d, m]) => {
    const q = window.txxt.grid.pointAt(d, m);
    return q && Number.isFinite(q.x) && Number.isFinite(q.y) && q.x > 0 && q.y > 0 && q.x < innerWidth && q.y < innerHeight && window.txxt.grid.W > innerWidth / 3 ? q : null;
  }, [w + 2, 10 * 60 + 10], 'the wide grid shows Wednesday 10:00').then((h) => h.jsonValue());
  await B.mouse.dblclick(p.x, p.y);
  await B.waitForSelector('input.editor', { timeout: 10000 });
  await B.keyboard.type('Restore drill');
  await B.keyboard.press('Enter');
  await waitFor(A, () => [...window.txxt.world.tasks.values()].some((t) => t.title === 'Restore drill' && t.status === 1), null, 'the admin sees the member\'s task live');
  await shot(A, 'admin-sees-task');
});

test('a change of working hours reaches another person\'s open page without a reload', async () => {
  assert.ok(A && B, 'the first run made both pages');
  const before = await B.evaluate(() => [window.txxt.settings.workday_start, window.txxt.settings.workday_end]);
  assert.notDeepEqual(before, [7 * 60, 19 * 60 + 30], 'the new hours are a change');
  await A.click('#admin-open');
  await A.click('.tabs button:has-text("Settings")');
  await A.fill('input[name=workday_start]', '07:00');
  await A.fill('input[name=workday_end]', '19:30');
  await A.selectOption('select[name=first_day_of_week]', '6');
  await A.click('.pane-settings button[type=submit]');
  await waitFor(B, () => window.txxt.settings.workday_start === 420 && window.txxt.settings.workday_end === 1170 && window.txxt.settings.first_day_of_week === 6, null, 'bob\'s page follows the new working hours and first day');
  assert.equal(await B.evaluate(() => window.notReloaded), true, 'bob\'s page was not reloaded');
  assert.equal(await B.evaluate(() => new Date(window.txxt.week() * 86400000).getUTCDay()), 0, 'bob\'s week starts on Sunday now');

  // A refusal comes back in the server's words.
  await A.fill('input[name=time_zone]', 'Mars/Olympus');
  await A.click('.pane-settings button[type=submit]');
  await waitFor(A, () => /time zone called/.test(document.querySelector('#admin .error').textContent), null, 'an unknown zone is refused with the server\'s message');
  await shot(A, 'settings-refused');
  await shot(B, 'member-after-settings');
  assert.deepEqual(pageErrors, []);
});
