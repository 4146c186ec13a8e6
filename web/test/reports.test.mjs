// The totals panel and the reports page, end to end: the real txxt binary
// with a temporary save file, the client in headless Chromium. A task's
// minutes reach the totals beside the grid by the event alone (no request);
// the reports page shows the server's report as a chart and a table, and
// its CSV link serves the same rows.

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

let dir, server, log, browser, url;
process.on('exit', () => server?.kill('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => { server?.kill('SIGKILL'); process.exit(128 + (sig === 'SIGINT' ? 2 : 15)); });
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'txxt-reports-'));
  mkdirSync(artifacts, { recursive: true });
  log = createWriteStream(path.join(artifacts, 'reports-server.log'));
  const bin = path.join(dir, 'txxt');
  execFileSync('go', ['build', '-o', bin, './cmd/txxt'], { cwd: root, stdio: 'inherit' });
  url = await new Promise((resolve, reject) => {
    server = spawn(bin, ['serve', '--data', path.join(dir, 'r.db'), '--addr', '127.0.0.1:0', '--demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  browser = await chromium.launch({ executablePath: CHROMIUM, timeout: 60000 });
}, { timeout: 300000 });

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    await new Promise((resolve) => {
      const timer = setTimeout(() => server.kill('SIGKILL'), 10000);
      server.on('exit', () => { clearTimeout(timer); resolve(); });
      server.kill('SIGTERM');
    });
  }
  log?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, { timeout: 60000 });

test('live totals follow each event; the reports page draws the report and links its CSV and XLSX', async () => {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.fill('input[name=username]', 'demo');
  await page.fill('input[name=password]', 'demo');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => window.txxt?.world.loaded && window.txxt.conn.state === 'live', null, { timeout: 10000 });

  // The totals fold open, and stay open across a reload.
  await page.click('#totals-box summary');
  await page.reload();
  await page.waitForFunction(() => window.txxt?.world.loaded && document.querySelector('#totals-box').open, null, { timeout: 10000 });

  // A service of our own, and a task in it on the first day of the week.
  await page.evaluate(() => window.txxt.conn.send({ type: 'CreateService', text: 'Audit' }));
  const service = await page.waitForFunction(() => [...window.txxt.world.services.values()].find((s) => s.name === 'Audit')?.id, null, { timeout: 10000 }).then((h) => h.jsonValue());
  let requests = 0;
  page.on('request', (r) => { if (r.url().includes('/api/')) requests++; });
  const ack = await page.evaluate(([service]) => window.txxt.conn.send({ type: 'CreateTask', priority: 1, service, assignee: '', date: window.txxt.week(), start: 540, duration: 90, text: 'audit the books' }), [service]);
  // Waits until the panel's Audit row reads want (planned, in progress, done, all).
  const auditIs = (want, what) => page.waitForFunction((want) => {
    const tr = [...document.querySelectorAll('#totals table:first-of-type tbody tr')].find((r) => r.querySelector('th').textContent === 'Audit');
    return tr && [...tr.querySelectorAll('td')].map((td) => td.textContent).join(' ') === want;
  }, want, { timeout: 10000 }).catch(async (e) => assert.fail(`${what}: ${e.message}; the panel says ${await page.textContent('#totals')}`));
  await auditIs('1:30 0:00 0:00 1:30', 'the new task is planned in the totals');

  const id = await page.evaluate((rev) => window.txxt.world.createdAt(rev), ack.revision);
  await page.evaluate((task) => window.txxt.conn.send({ type: 'StartTask', task }), id);
  await auditIs('0:00 1:30 0:00 1:30', 'started: in progress');
  await page.evaluate((task) => window.txxt.conn.send({ type: 'CompleteTask', task }), id);
  await auditIs('0:00 0:00 1:30 1:30', 'completed: done');
  assert.equal(requests, 0, 'the totals moved with the events alone, without a request');

  // The panel's figures equal a recount of the page's world for the week.
  const check = await page.evaluate(() => {
    const app = window.txxt, w = app.week(), sum = new Map();
    for (const t of app.world.tasks.values()) {
      if (t.status === 0 || t.date < w || t.date >= w + 7) continue;
      sum.set(t.service, (sum.get(t.service) || 0) + t.duration);
    }
    const all = [...sum.values()].reduce((a, b) => a + b, 0);
    const total = document.querySelector('#totals table:first-of-type tr.total td:last-child').textContent;
    return { all, total };
  });
  assert.equal(check.total, `${Math.floor(check.all / 60)}:${String(check.all % 60).padStart(2, '0')}`);

  await page.screenshot({ path: path.join(artifacts, 'totals.png') });
  // The reports page: a week by service.
  await page.click('#reports-open');
  await page.selectOption('#report-range', 'week');
  await page.waitForSelector('#reports .report-table tbody tr', { timeout: 10000 });
  const audit = await page.evaluate(() => [...document.querySelectorAll('#reports .report-table tbody tr')].find((r) => r.querySelector('th').textContent.endsWith('Audit'))?.textContent);
  assert.equal(audit, 'Audit0:000:001:301:30');
  assert.ok(await page.locator('#reports svg.report-chart rect').count() > 0, 'the chart has bars');
  const csvHref = await page.getAttribute('#report-csv', 'href');
  assert.match(csvHref, /api\/reports\/hours\?from=\d{4}-\d\d-\d\d&to=\d{4}-\d\d-\d\d&group=service&format=csv$/);
  assert.match(await page.getAttribute('#report-xlsx', 'href'), /format=xlsx$/);
  const csv = await page.evaluate((href) => fetch(href).then((r) => r.text()), csvHref);
  const lines = csv.trim().split('\n');
  assert.equal(lines[0], 'service_id,service_name,planned_minutes,in_progress_minutes,done_minutes,total_minutes');
  assert.ok(lines.includes(`${service},Audit,0,0,90,90`), `the CSV has the Audit row: ${csv}`);
  assert.equal(lines.length - 1, await page.locator('#reports .report-table tbody tr').count(), 'the CSV has the table\'s rows');

  // Grouped by status, and back to the calendar.
  await page.selectOption('#report-group', 'status');
  await page.waitForFunction(() => [...document.querySelectorAll('#reports .report-table tbody th')].map((th) => th.textContent).join('|').includes('Done'), null, { timeout: 10000 });
  await page.screenshot({ path: path.join(artifacts, 'reports.png') });
  await page.click('#reports-close');
  assert.equal(await page.isVisible('#reports'), false);

  // A holiday on the week's Wednesday, added in the admin panel, takes
  // a working day of each of the demo team's members out of the capacity.
  const capacity = async () => {
    await page.selectOption('#report-group', 'service');
    return page.textContent('#report-capacity');
  };
  await page.click('#reports-open');
  await page.waitForSelector('#report-capacity', { timeout: 10000 });
  const before = await capacity();
  await page.click('#reports-close');
  await page.click('#admin-open');
  await page.click('dialog#admin nav button:has-text("Days off")');
  const wednesday = await page.evaluate(() => new Date((window.txxt.week() + ((2 - window.txxt.settings.first_day_of_week + 7) % 7)) * 86400000).toISOString().slice(0, 10));
  await page.fill('input[name=holiday-date]', wednesday);
  await page.fill('input[name=holiday-name]', 'Audit day');
  await page.click('dialog#admin button:has-text("Add holiday")');
  await page.waitForFunction(() => window.txxt.world.holidays.size === 1, null, { timeout: 10000 });
  await page.waitForSelector('dialog#admin td:has-text("Audit day")', { timeout: 10000 });
  await page.click('dialog#admin nav button:has-text("Close")');
  // The grid shades the holiday and names it in the day's header, in both layouts.
  await page.waitForFunction(() => window.txxt.grid.texts.some((t) => t.kind === 'count' && t.text.startsWith('Audit day')), null, { timeout: 10000 });
  await page.screenshot({ path: path.join(artifacts, 'holiday-time.png') });
  await page.click('#view-person');
  await page.waitForFunction(() => window.txxt.grid.texts.some((t) => /off: Audit day/.test(t.text)), null, { timeout: 10000 });
  await page.screenshot({ path: path.join(artifacts, 'holiday-person.png') });
  await page.click('#view-person');
  await page.click('#reports-open');
  await page.waitForFunction((before) => {
    const c = document.querySelector('#report-capacity')?.textContent;
    return c && c !== before;
  }, before, { timeout: 10000 });
  const after = await page.textContent('#report-capacity');
  const mins = (t) => { const [h, m] = t.split(':').map(Number); return h * 60 + m; };
  const sch = await page.evaluate(() => window.txxt.world.schedule);
  const members = await page.evaluate(() => fetch(`${window.txxt.base}/api/members`, { credentials: 'same-origin' }).then((r) => r.json()).then((l) => l.length));
  assert.equal(mins(before) - mins(after), members * (sch.workdayEnd - sch.workdayStart), `capacity ${before} → ${after}: one working day less for each of the ${members} members`);
  await page.click('#reports-close');

  // Working days, in the team's settings: Friday unticked, the page
  // follows without a reload (shaded, "off" in the person layout), and
  // the report's capacity loses a day for each member.
  await page.click('#admin-open');
  await page.click('dialog#admin nav button:has-text("Settings")');
  await page.waitForSelector('input[name=working_day_4]', { timeout: 10000 });
  assert.equal(await page.isChecked('input[name=working_day_4]'), true, 'Friday works by default');
  assert.equal(await page.isChecked('input[name=working_day_5]'), false, 'Saturday does not');
  for (const [w, h] of [[1440, 900], [800, 600], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.screenshot({ path: path.join(artifacts, `settings-working-days-${w}x${h}.png`) });
  }
  await page.setViewportSize({ width: 1400, height: 900 });
  await page.uncheck('input[name=working_day_4]');
  await page.click('dialog#admin button:has-text("Save settings")');
  await page.waitForFunction(() => window.txxt.world.schedule.workingDays === 0x0f && window.txxt.settings.working_days === 0x0f, null, { timeout: 10000 })
    .catch((e) => assert.fail(`the page follows the working days: ${e.message}`));
  await page.click('dialog#admin nav button:has-text("Close")');
  const friday = await page.evaluate(() => window.txxt.week() + ((4 - window.txxt.settings.first_day_of_week + 7) % 7));
  assert.equal(await page.evaluate((d) => window.txxt.world.worksOn(d), friday), false);
  for (const [w, h] of [[1440, 900], [800, 600], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.screenshot({ path: path.join(artifacts, `working-days-time-${w}x${h}.png`) });
  }
  await page.setViewportSize({ width: 1400, height: 900 });
  await page.click('#view-person');
  await page.waitForFunction(() => window.txxt.grid.texts.some((t) => /off: not a working day/.test(t.text)), null, { timeout: 10000 })
    .catch((e) => assert.fail(`the person layout says Friday is off: ${e.message}`));
  await page.screenshot({ path: path.join(artifacts, 'working-days-person.png') });
  await page.click('#view-person');
  await page.click('#reports-open');
  await page.waitForFunction((after) => {
    const c = document.querySelector('#report-capacity')?.textContent;
    return c && c !== after;
  }, after, { timeout: 10000 });
  const fewer = await page.textContent('#report-capacity');
  assert.equal(mins(after) - mins(fewer), members * (sch.workdayEnd - sch.workdayStart), `capacity ${after} → ${fewer}: Friday is no working day`);
  assert.deepEqual(errors, []);
});
