// End to end, the page's own tools for a team: saved views and the
// filter's chips (the staging list follows the filter), the title's byte
// counter and a refused edit that keeps its text, a login in no team, and
// the deployment admin's Server screen (teams, accounts) that a team's
// admin never sees. The real txxt binary started without --demo on a new
// data directory, set up through its printed link, and headless Chromium.
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

let dir, server, log, browser, url, setupLink, A;
const pageErrors = [];
const ids = {};

process.on('exit', () => server?.kill('SIGKILL'));

/** Starts `txxt serve` without --demo; resolves when it printed its URL and setup link (30 s at most). */
function serve(bin, data) {
  return new Promise((resolve, reject) => {
    server = spawn(bin, ['serve', '--data', data, '--addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr.pipe(log, { end: false });
    const timer = setTimeout(() => { server.kill('SIGKILL'); reject(new Error('txxt serve printed no setup link within 30 s')); }, 30000);
    let out = '';
    server.stdout.on('data', (b) => {
      out += b;
      log.write(b);
      const at = /at (http:\/\/[^\s]+?)\/?\n/.exec(out), link = /^\s+(http:\/\/\S+\/setup\?token=\S+)\s*$/m.exec(out);
      if (at && link) { clearTimeout(timer); resolve([at[1], link[1]]); }
    });
    server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`txxt serve exited with ${code} before printing its setup link`)); });
  });
}

const waitFor = (page, fn, arg, what) => page.waitForFunction(fn, arg, { timeout: 10000 }).catch((e) => { throw new Error(`${what}: ${e.message}`); });
const live = (page, what) => waitFor(page, () => window.txxt?.world.loaded && window.txxt.conn.state === 'live', null, `${what}: the page goes live`);
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `teamui-${name}.png`) });
/** The JSON API from inside the page (its cookie, its origin): [status, body]. */
const call = (page, method, p, body) => page.evaluate(([method, p, body]) => fetch(p, {
  method, credentials: 'same-origin', headers: body === undefined ? {} : { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
}).then(async (r) => [r.status, r.status === 204 ? null : await r.json().catch(() => null)]), [method, p, body]);
const staged = (page) => page.$$eval('#staged li[data-id]', (lis) => lis.map((li) => li.firstChild.textContent));

async function newPage(who, viewport) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
  return page;
}

async function login(page, at, user, password) {
  await page.goto(at);
  await page.waitForSelector('#login:not([hidden])', { timeout: 10000 });
  await page.fill('#login input[name=username]', user);
  await page.fill('#login input[name=password]', password);
  await page.click('#login button[type=submit]');
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'txxt-teamui-'));
  mkdirSync(artifacts, { recursive: true });
  log = createWriteStream(path.join(artifacts, 'teamui-server.log'));
  const bin = path.join(dir, 'txxt');
  execFileSync('go', ['build', '-o', bin, './cmd/txxt'], { cwd: root, stdio: 'inherit' });
  [url, setupLink] = await serve(bin, path.join(dir, 'data'));
  browser = await chromium.launch({ executablePath: CHROMIUM, timeout: 60000 });

  // The team "Ops" and its admin ann, by the setup page; two services, a
  // member, and four tasks (two staged, two this week).
  A = await newPage('ann', WIDE);
  await A.goto(setupLink);
  await A.fill('#front input[name=team]', 'Ops');
  await A.fill('#front input[name=username]', 'ann');
  await A.fill('#front input[name=password]', 'ann-password');
  await A.click('#front button[type=submit]');
  await A.waitForURL(/\/t\/ops\/(\?.*)?$/, { timeout: 10000 });
  await live(A, 'ann after setup');
  await A.click('#guide-close');
  for (const name of ['Backups', 'Network']) {
    const [status, body] = await call(A, 'POST', '/t/ops/api/services', { name });
    assert.equal(status, 200, JSON.stringify(body));
  }
  assert.equal((await call(A, 'POST', '/t/ops/api/members', { name: 'bob', password: 'bob-password', role: 'member' }))[0], 200);
  await waitFor(A, () => window.txxt.world.services.size === 2 && [...window.txxt.world.users.values()].includes('bob'), null, 'the services and bob are in the world');
  Object.assign(ids, await A.evaluate(() => {
    const w = window.txxt.world, by = (m, name) => [...m].find(([, v]) => (v.name ?? v) === name)[0];
    return { backups: by(w.services, 'Backups'), network: by(w.services, 'Network'), ann: by(w.users, 'ann'), bob: by(w.users, 'bob'), zero: '00000000-0000-0000-0000-000000000000' };
  }));
  const day = await A.evaluate(() => window.txxt.week() + 2);
  const tasks = [
    ['Stage backups', ids.backups, ids.zero, -1, 0, 0], ['Stage network', ids.network, ids.zero, -1, 0, 0],
    ['Backup run', ids.backups, ids.bob, day, 600, 60], ['Switch swap', ids.network, ids.ann, day, 660, 60],
  ];
  for (const [text, service, assignee, date, start, duration] of tasks) {
    const r = await A.evaluate((c) => window.txxt.conn.send(c).then(() => '', (e) => e.message), {
      type: 'CreateTask', priority: 1, service, assignee, date: date < 0 ? 0xffff : date, start, duration, text, // 0xffff: no date (staged)
    });
    assert.equal(r, '', `create ${text}`);
  }
  await waitFor(A, () => window.txxt.world.tasks.size === 4, null, 'the four tasks are in the world');
}, { timeout: 300000 }); // the go build comes first

after(async () => {
  await A?.screenshot({ path: path.join(artifacts, 'teamui-final.png') }).catch(() => {});
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
  assert.deepEqual(pageErrors, [], 'no page threw');
});

test('a saved view: save it, switch away and back, its filter as chips that remove it, the staging list follows, delete it', async () => {
  assert.deepEqual((await staged(A)).sort(), ['Stage backups', 'Stage network']);
  assert.equal(await A.isVisible('#chips'), false, 'no filter, no chips');

  // The filter: only Backups, in the people layout.
  await A.click('#views-open');
  await A.check(`#views .pick-services input[value="${ids.backups}"]`);
  await waitFor(A, () => !document.querySelector('#chips').hidden, null, 'the chips show');
  assert.match(await A.textContent('#chips'), /Service\s+Backups/);
  assert.deepEqual(await staged(A), ['Stage backups'], 'the staging list follows the filter');
  assert.equal(await A.textContent('#staged-count'), '(1 of 2)');
  assert.deepEqual(await A.evaluate(() => window.txxt.grid.items.map((it) => it.task.title)), ['Backup run'], 'the grid follows the filter');
  await A.click('#view-person');
  await A.click('#views-open');
  await A.fill('#views input[name=view-name]', 'Backups by person');
  await A.click('#views button[type=submit]');
  await A.waitForSelector('#views li[data-name="Backups by person"] .go.on', { timeout: 10000 });
  await shot(A, 'views-saved');
  const [, list] = await call(A, 'GET', '/t/ops/api/profiles');
  assert.equal(list.length, 1);
  assert.equal(list[0].layout, 'person');
  assert.deepEqual(list[0].services, [ids.backups]);
  assert.equal(list[0].active, true);

  // Away: the chip's × takes the filter off, then the month.
  await A.keyboard.press('Escape');
  await A.click(`#chips .chip[data-id="${ids.backups}"] .x`);
  await waitFor(A, () => document.querySelector('#chips').hidden && window.txxt.state.filter === null, null, 'the chip removed the filter');
  assert.deepEqual((await staged(A)).sort(), ['Stage backups', 'Stage network']);
  await A.click('#view-month');
  await A.click('#view-person'); // back to time (the month is left for the week)
  await A.click('#view-month');
  assert.deepEqual(await A.evaluate(() => [window.txxt.state.view, window.txxt.state.layout]), ['month', 'time']);

  // Back: the saved view sets the view state again.
  await A.click('#views-open');
  await A.click('#views li[data-name="Backups by person"] .go');
  await waitFor(A, () => window.txxt.state.view === 'week' && window.txxt.state.layout === 'person' && window.txxt.state.filter?.services?.size === 1, null, 'the saved view is applied');
  assert.deepEqual(await staged(A), ['Stage backups']);
  assert.match(await A.textContent('#chips'), /Backups/);
  assert.equal(await A.textContent('#views-open'), 'View: Backups by person');
  await A.keyboard.press('Escape');
  await shot(A, 'views-applied');

  // A person's chip too, on a phone.
  await A.setViewportSize(PHONE);
  await A.click('#views-open');
  await A.check(`#views .pick-assignees input[value="${ids.bob}"]`);
  await waitFor(A, () => document.querySelectorAll('#chips .chip').length === 2, null, 'two chips');
  await shot(A, 'views-phone-popover');
  await A.keyboard.press('Escape');
  assert.match(await A.textContent('#chips'), /Person\s+bob/);
  await shot(A, 'views-phone-chips');
  await A.click('#chips .clear');
  await waitFor(A, () => window.txxt.state.filter === null, null, 'Show everything clears the filter');
  await A.setViewportSize(WIDE);

  // Delete it.
  await A.click('#views-open');
  await A.click('#views li[data-name="Backups by person"] button.danger');
  await waitFor(A, () => !document.querySelector('#views li[data-name]'), null, 'the view is gone from the list');
  assert.deepEqual((await call(A, 'GET', '/t/ops/api/profiles'))[1], []);
  assert.equal(await A.textContent('#views-open'), 'Views');
  await A.keyboard.press('Escape');
  await A.click('#view-person'); // back to the time layout for the next test
});

test('a title counts bytes as the server does: 129 bytes with é is refused in the page, and a refused rename keeps its text', async () => {
  // The staging list's input.
  const title = `${'é'.repeat(64)}a`; // 64 letters + 1, 129 bytes
  const before = await A.evaluate(() => window.txxt.world.tasks.size);
  await A.fill('#stage-new input', title);
  assert.equal(await A.textContent('#stage-count'), '129/128 bytes (é counts as 2)');
  assert.equal(await A.evaluate(() => document.querySelector('#stage-count').classList.contains('over')), true, 'the counter is red');
  await A.press('#stage-new input', 'Enter');
  assert.equal(await A.textContent('#stage-error'), 'A title can be at most 128 bytes: this one is 129 (é counts as 2).');
  assert.equal(await A.inputValue('#stage-new input'), title, 'the text stays');
  assert.equal(await A.evaluate(() => window.txxt.pending.size), 0, 'nothing was sent');
  assert.equal(await A.evaluate(() => window.txxt.world.tasks.size), before);
  await shot(A, 'title-over');
  await A.press('#stage-new input', 'Backspace'); // 128 bytes: fits
  assert.equal(await A.textContent('#stage-count'), '128/128 bytes (é counts as 2)');
  assert.equal(await A.textContent('#stage-error'), '');
  await A.fill('#stage-new input', '');

  // A rename the server refuses (the task was deleted meanwhile): the editor keeps the text.
  const id = await A.evaluate(() => [...window.txxt.world.tasks.values()].find((t) => t.title === 'Stage network').id);
  await A.dblclick(`#staged li[data-id="${id}"]`); // rename in place
  await A.waitForSelector('input.editor', { timeout: 10000 });
  await A.fill('input.editor', 'Network, renamed');
  assert.equal(await A.evaluate((id) => window.txxt.conn.send({ type: 'DeleteTask', task: id }).then(() => '', (e) => e.message), id), '');
  await waitFor(A, (id) => !window.txxt.world.tasks.has(id), id, 'the task is deleted');
  await A.focus('input.editor');
  await A.keyboard.press('Enter');
  await waitFor(A, () => document.querySelector('.editor-note .reason')?.textContent, null, 'the server\'s message beside the editor');
  assert.equal(await A.inputValue('input.editor'), 'Network, renamed', 'the typed text is kept');
  assert.equal(await A.textContent('.editor-note .reason'), "You deleted 'Stage network' a moment ago.", 'the server says it with its title, who and when, never its id');
  await shot(A, 'rename-refused');
  await A.keyboard.press('Escape');
  assert.equal(await A.$('input.editor'), null);
});

test('the deployment admin makes a team and accounts in the Server screen; a team admin does not see it; a login in no team is told so', async () => {
  await A.click('#server-open');
  await A.waitForSelector('#server table.accounts tr[data-name="ann"]', { timeout: 10000 });
  await A.fill('#server input[name=team-name]', 'Ops Paris');
  await A.click('#server .pane-teams button[type=submit]');
  await A.waitForSelector('#server tr[data-slug="ops-paris"]', { timeout: 10000 });
  for (const name of ['erin', 'dave']) {
    await A.fill('#server input[name=account-name]', name);
    await A.fill('#server input[name=account-password]', `${name}-password`);
    await A.click('#server .pane-accounts button[type=submit]');
    await A.waitForSelector(`#server tr[data-name="${name}"]`, { timeout: 10000 });
  }
  assert.match(await A.textContent('#server tr[data-name="erin"]'), /in no team/);
  // A refusal in the server's words: the name is taken.
  await A.fill('#server input[name=account-name]', 'erin');
  await A.fill('#server input[name=account-password]', 'another-password');
  await A.click('#server .pane-accounts button[type=submit]');
  await waitFor(A, () => /erin|taken|exists/i.test(document.querySelector('#server .error').textContent), null, 'a taken name is refused in the server\'s words');
  await shot(A, 'server-wide');
  await A.setViewportSize(PHONE);
  await shot(A, 'server-phone');
  await A.setViewportSize(WIDE);
  // Rename and archive a team.
  await A.fill('#server tr[data-slug="ops-paris"] input.team-name', 'Ops Paris-Nord');
  await A.press('#server tr[data-slug="ops-paris"] input.team-name', 'Enter');
  await waitFor(A, () => document.querySelector('#server tr[data-slug="ops-paris"] input.team-name')?.value === 'Ops Paris-Nord', null, 'the team is renamed');
  await A.click('#server tr[data-slug="ops-paris"] button:has-text("Archive")');
  await A.waitForSelector('#server tr.archived[data-slug="ops-paris"]', { timeout: 10000 });
  await A.click('#server .tabs button:has-text("Close")');

  // dave: an admin of Ops, not of the server.
  assert.equal((await call(A, 'POST', '/t/ops/api/members', { name: 'dave', role: 'admin' }))[0], 200);
  const D = await newPage('dave', WIDE);
  await login(D, `${url}/t/ops/`, 'dave', 'dave-password');
  await live(D, 'dave');
  assert.equal(await D.isVisible('#admin-open'), true, 'the team admin sees the team\'s Admin panel');
  assert.equal(await D.isVisible('#server-open'), false, 'a team admin never sees the Server screen');
  assert.equal((await call(D, 'GET', '/api/teams'))[0], 403, 'nor can reach its endpoints');
  await D.context().close();

  // erin: in no team, at a team's page and at the front page.
  const E = await newPage('erin', PHONE);
  await login(E, `${url}/t/ops/`, 'erin', 'erin-password');
  await waitFor(E, () => /You are not in any team yet: ask an admin to invite you/.test(document.querySelector('#no-team')?.textContent || ''), null, 'erin is told she is in no team');
  assert.equal(await E.isVisible('#server-open'), false);
  await shot(E, 'no-team-phone');
  await E.goto(url);
  await waitFor(E, () => /not in any team yet/.test(document.querySelector('#no-team')?.textContent || ''), null, 'at / too');
  await E.context().close();
});
