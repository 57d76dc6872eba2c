// dashboard.test.js - the dashboard in a real browser (Debian's chromium, headless, via playwright-core).
//
// Run by tests/web/dashboard.sh against a real site. Environment:
//   BASE        http://127.0.0.1:PORT of qs-web
//   TOK_DIR     directory with the tokens op, adm, po
//   EXPECTED    `qsctl compliance --format json` of the site, taken just before
//   NEW_K       the k the privacy officer sets
//   OUT_DIR     where screenshots and timings.json go
//   TREND       `qsctl compliance --trend --days 30 --format json`, taken just before
//   SNAPSHOT_DAYS  how many of those days have a snapshot
// Exits 1 naming the first failed check.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const BASE = process.env.BASE;
const TOK = (n) => fs.readFileSync(path.join(process.env.TOK_DIR, n), 'utf8').trim();
const EXPECTED = JSON.parse(fs.readFileSync(process.env.EXPECTED, 'utf8'));
const NEW_K = Number(process.env.NEW_K);
const TREND = JSON.parse(fs.readFileSync(process.env.TREND, 'utf8'));
const SNAPSHOT_DAYS = Number(process.env.SNAPSHOT_DAYS);
const OUT = process.env.OUT_DIR;
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const timings = {};
let checks = 0;

function check(ok, what) {
  if (!ok) throw new Error('FAILED: ' + what);
  checks++;
  console.log('ok - ' + what);
}

// A fresh context (its own sessionStorage) that fails on any CSP violation
// or page error and records every request URL (the token must be in none).
async function session(browser, viewport) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.problems = [];
  page.urls = [];
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[13]|status of 501/.test(m.text())) page.problems.push(m.text()); });
  page.on('pageerror', (e) => page.problems.push(String(e)));
  page.on('request', (r) => page.urls.push(r.url()));
  return { ctx, page };
}

// Log in with the keyboard only: the token field has focus, type, Enter.
async function login(page, token) {
  const t0 = Date.now();
  await page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#token:focus', { timeout: 5000 });
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await page.waitForSelector('body[data-ready="#/compliance"]', { timeout: 10000 });
  return Date.now() - t0;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(OUT, name + '.png'), fullPage: true });
}

async function complianceCells(page) {
  return page.$$eval('#compliance-table tbody tr', (trs) => trs.flatMap((tr) =>
    [...tr.querySelectorAll('td[data-state-id]')].map((td) => ({
      topic_type: Number(tr.dataset.topicType), topic_id: tr.dataset.topicId,
      state_id: td.dataset.stateId === 'none' ? null : Number(td.dataset.stateId),
      percent: td.dataset.percent, text: td.textContent }))));
}

async function firstPaint(browser) {
  // First meaningful paint: a cold load of the page to the login form drawn,
  // and a logged-in load (token in sessionStorage) to the compliance table.
  const { ctx, page } = await session(browser, LAPTOP);
  const t0 = Date.now();
  await page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#login-form', { state: 'visible' });
  timings.login_form_ms = Date.now() - t0;
  timings.first_contentful_paint_ms = await page.evaluate(() =>
    (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null);
  await page.evaluate((t) => sessionStorage.setItem('qs_token', t), TOK('op'));
  // Time from navigation start to the table drawn, as the page measured it.
  await page.goto(BASE + '/#/compliance', { waitUntil: 'domcontentloaded' });
  await page.reload({ waitUntil: 'domcontentloaded' });   // a full load, logged in (cold)
  await page.waitForSelector('body[data-ready="#/compliance"]');
  timings.compliance_table_cold_ms = Number(await page.getAttribute('body', 'data-ready-ms'));
  await page.reload({ waitUntil: 'domcontentloaded' });   // again, files from the cache
  await page.waitForSelector('body[data-ready="#/compliance"]');
  timings.compliance_table_ms = Number(await page.getAttribute('body', 'data-ready-ms'));
  await ctx.close();
  check(timings.compliance_table_ms < 1000, 'first meaningful paint (compliance table) < 1 s: ' + timings.compliance_table_ms + ' ms');
}

async function operator(browser) {
  const { ctx, page } = await session(browser, LAPTOP);
  timings.operator_login_ms = await login(page, TOK('op'));
  check(await page.textContent('#who') === 'op (operator)', 'operator logged in with the keyboard');
  const cells = await complianceCells(page);
  const k = EXPECTED.k;
  check(EXPECTED.rows.length > 0 && cells.length === EXPECTED.rows.length,
    'compliance table has every row of qsctl compliance (' + cells.length + '/' + EXPECTED.rows.length + ')');
  let suppressed = 0, percents = 0, noReport = 0;
  for (const row of EXPECTED.rows) {
    const c = cells.find((x) => x.topic_type === row.topic_type && x.topic_id === row.topic_id && x.state_id === row.state_id);
    const want = row.count === null ? '<' + k : String(row.count);
    if (row.count === null) suppressed++;
    if (row.state_id === null) noReport++;
    check(c && c.text === want, `cell ${row.topic_type}/${row.topic_id}/${row.state} shows ${want} (got ${c && c.text})`);
    // The percent of the topic type's machines, as the API gives it; none for a hidden cell.
    const wantPct = row.percent === null ? '' : String(row.percent);
    check(c && c.percent === wantPct, `cell ${row.topic_type}/${row.topic_id}/${row.state} has percent ${wantPct} (got ${c && c.percent})`);
    if (row.percent !== null) percents++;
  }
  check(suppressed > 0, suppressed + ' suppressed cells shown as <' + k + ', never a number');
  check(percents > 0 && noReport > 0, percents + ' percents and ' + noReport + ' no-report cells shown as the API gives them');
  const instPct = await page.$$eval('#compliance-table tbody tr td.pct', (tds) => tds.map((td) => td.textContent));
  check(instPct.some((t) => /^\d+\.\d\d%$/.test(t)), 'the Installed column shows a percent of the scope: ' + instPct.slice(0, 3).join(', '));
  await shot(page, 'compliance-laptop');
  await page.setViewportSize(PHONE);
  await shot(page, 'compliance-phone');
  await page.setViewportSize(LAPTOP);
  await page.click('#nav a[href="#/types"]');
  await page.waitForSelector('body[data-ready="#/types"]');
  await shot(page, 'topic-types');
  await page.goto(BASE + '/#/compliance');
  await page.waitForSelector('body[data-ready="#/compliance"]');
  await page.click('#compliance-table tbody tr a');
  await page.waitForSelector('#update-table');
  await shot(page, 'update');
  await trendChart(page);
  // The lookup page: refused, and the API behind it answers 403.
  await page.click('#nav a[href="#/lookup"]');
  await page.waitForSelector('#lookup-refused');
  await page.fill('#l-name', 'sim-0001');
  await page.fill('#l-reason', 'curious');
  await page.press('#l-reason', 'Enter');
  await page.waitForSelector('#lookup-out [data-status]');
  check(await page.getAttribute('#lookup-out [data-status]', 'data-status') === '403', 'operator lookup: the page shows the API refusal (403)');
  const st = await page.evaluate(async (t) => (await fetch('/api/v1/machines/sim-0001?reason=x',
    { headers: { Authorization: 'Bearer ' + t } })).status, TOK('op'));
  check(st === 403, 'GET /api/v1/machines/NAME as operator: 403');
  check(!(await page.isVisible('#nav a[href="#/privacy"]')), 'operator has no privacy page link');
  await shot(page, 'lookup-refused');
  check(page.urls.every((u) => !u.includes(TOK('op'))), 'the token is in no URL (' + page.urls.length + ' requests)');
  check(page.problems.length === 0, 'no CSP violation or page error: ' + page.problems.join(' | '));
  await ctx.close();
}

// The trend chart of an update none of whose cells is suppressed: one
// point per day with a snapshot, at the share installed the CLI gives.
async function trendChart(page) {
  const topics = new Map();
  for (const r of EXPECTED.rows) {
    const key = r.topic_type + '/' + r.topic_id;
    if (!topics.has(key)) topics.set(key, []);
    topics.get(key).push(r);
  }
  const pick = [...topics.values()].find((rows) => rows.every((r) => r.count !== null) &&
    rows.some((r) => r.state === 'installed'));
  check(pick !== undefined, 'an update without a suppressed cell to chart');
  const { topic_type: type, topic_id: id } = pick[0];
  // The page still shows the update clicked before (its own chart) until
  // this route is drawn: wait for this hash, not for any chart.
  const hash = '#/update/' + type + '/' + encodeURIComponent(id);
  await page.goto(BASE + '/' + hash);
  await page.waitForSelector('body[data-ready="' + hash.replace(/["\\]/g, '\\$&') + '"]');
  await page.waitForSelector('#trend svg.trend');
  const want = new Map();
  for (const day of new Set(TREND.rows.map((r) => r.day))) {
    const cells = TREND.rows.filter((r) => r.day === day && r.topic_type === type && r.topic_id === id);
    if (!cells.length || cells.some((c) => c.count === null)) continue;
    const total = cells.reduce((s, c) => s + c.count, 0);
    const inst = cells.filter((c) => c.state === 'installed').reduce((s, c) => s + c.count, 0);
    want.set(day, (100 * inst / total).toFixed(1));
  }
  const pts = await page.$$eval('#trend circle.pt', (cs) => cs.map((c) => [c.dataset.day, c.dataset.pct]));
  check(pts.length === SNAPSHOT_DAYS && want.size === SNAPSHOT_DAYS,
    'trend chart of ' + id + ' has one point per day with a snapshot (' + pts.length + '/' + SNAPSHOT_DAYS + ')');
  check(pts.every(([d, p]) => want.get(d) === p), 'each point is the share installed of its day: ' + JSON.stringify(pts));
  check(await page.$$eval('#trend path.trend-line', (ps) => ps.length) === 1, 'the points are joined by a line');
  check(await page.getAttribute('#trend-note', 'data-points') === String(SNAPSHOT_DAYS), 'the note counts the days drawn');
  await shot(page, 'update-trend');
}

async function admin(browser) {
  const { ctx, page } = await session(browser, LAPTOP);
  await login(page, TOK('adm'));
  check(await page.textContent('#who') === 'adm (admin)', 'admin logged in');
  await page.click('#nav a[href="#/lookup"]');
  await page.waitForSelector('#lookup-form');
  check(!(await page.isVisible('#lookup-refused')), 'admin is not refused the lookup page');
  await page.fill('#l-name', 'sim-0001');
  await page.fill('#l-reason', 'ticket 4711');
  await page.click('#lookup-form button');
  await page.waitForSelector('#lookup-out p');
  const status = await page.getAttribute('#lookup-out [data-status]', 'data-status').catch(() => null);
  check(status !== '403', 'admin lookup is not refused (' + (status || '200') + ')');
  await shot(page, 'lookup-admin');
  check(page.problems.length === 0, 'no CSP violation or page error (admin): ' + page.problems.join(' | '));
  await ctx.close();
}

async function officer(browser) {
  const { ctx, page } = await session(browser, LAPTOP);
  await login(page, TOK('po'));
  check(await page.textContent('#who') === 'po (privacy-officer)', 'privacy officer logged in');
  await page.click('#nav a[href="#/privacy"]');
  await page.waitForSelector('body[data-ready="#/privacy"]');
  check(/^Intact: \d+ entries/.test(await page.textContent('#chain')), 'audit chain shown intact');
  check(await page.textContent('#policy dd[data-key="k"]') === String(EXPECTED.k), 'policy shows k=' + EXPECTED.k);
  const versions = await page.$$eval('#history tbody tr', (t) => t.length);
  await shot(page, 'privacy');
  await page.fill('#f-k', String(NEW_K));
  await page.click('#policy-form button');
  await page.waitForSelector('#policy-msg.ok');
  // (waitForFunction would eval a string, which the page's CSP rightly forbids.)
  await page.waitForSelector('#policy dd[data-key="k"]:text-is("' + NEW_K + '")', { timeout: 5000 });
  check(await page.$$eval('#history tbody tr', (t) => t.length) === versions + 1, 'the history has one more version');
  check((await page.textContent('#history tbody tr td:nth-child(3)')) === 'web:po', 'the new version is by web:po');
  await shot(page, 'privacy-changed');
  await page.click('#nav a[href="#/compliance"]');
  await page.waitForSelector('body[data-ready="#/compliance"]');
  check((await page.textContent('#view .note')).includes('k = ' + NEW_K), 'compliance now applies k=' + NEW_K);
  check(page.problems.length === 0, 'no CSP violation or page error (privacy officer): ' + page.problems.join(' | '));
  await ctx.close();
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run'],
  });
  let rc = 0;
  try {
    await firstPaint(browser);
    await operator(browser);
    await admin(browser);
    await officer(browser);
    console.log(checks + ' passed, 0 failed');
  } catch (e) {
    console.error(e.message);
    console.log(checks + ' passed, 1 failed');
    rc = 1;
  } finally {
    fs.writeFileSync(path.join(OUT, 'timings.json'), JSON.stringify(timings, null, 1) + '\n');
    await browser.close();
  }
  process.exit(rc);
})();
