// paint.js - the dashboard's first meaningful paint in Debian's chromium (headless), for bench/run.
//
// Usage: node paint.js URL TOKEN_FILE [LOADS]
//   URL         http://127.0.0.1:PORT of qs-web (the dashboard at /)
//   TOKEN_FILE  a token (first line) of a user who may read compliance
//   LOADS       timed page loads, default 5
// In one tab: go to URL/, type the token into the login form, press Enter and
// wait for the compliance table (the dashboard keeps the token in the tab's
// sessionStorage). Then LOADS full loads of that logged-in tab (reload), each
// timed from navigation start to the compliance table drawn with rows: the
// page's own body[data-ready-ms], as tests/web/browser/dashboard.test.js reads
// it. The first load is cold (the browser's cache disabled: every file from
// qs-web), the others warm (the dashboard's files from the cache, as the
// server's Cache-Control and ETag allow). Also kept per load: the next frame
// after the mark (painted_ms); and for the typed login, the time from Enter
// to the table (login_ms) and the login page's first contentful paint.
// Prints one JSON line; exits 1 if a load fails, 3 if chromium cannot be
// started (bench/run then reports SKIP).
'use strict';
const fs = require('fs');
const { chromium } = require('playwright-core');

const [URL, TOKEN_FILE, LOADS_ARG] = process.argv.slice(2);
const LOADS = Number(LOADS_ARG || 5);
if (!URL || !TOKEN_FILE || !(LOADS >= 1)) {
  console.error('usage: node paint.js URL TOKEN_FILE [LOADS]');
  process.exit(2);
}
const TOKEN = fs.readFileSync(TOKEN_FILE, 'utf8').split('\n')[0].trim();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};

// Run in every document before its own scripts (addInitScript): resolves
// window.__qsPainted with performance.now() after the frame that follows the
// compliance view being marked ready (a function: the page's CSP forbids eval).
function watchReady() {
  window.__qsPainted = new Promise((resolve) => {
    const mo = new MutationObserver(() => {
      if (!document.body || document.body.dataset.ready !== '#/compliance') return;
      mo.disconnect();
      requestAnimationFrame(() => setTimeout(() => resolve(performance.now()), 0));
    });
    mo.observe(document, { attributes: true, subtree: true, attributeFilter: ['data-ready'] });
  });
}

async function rows(page) {
  const n = await page.$$eval('#compliance-table tbody tr', (t) => t.length);
  if (!(n > 0)) throw new Error('the compliance table has no rows');
  return n;
}

// The login, typed: Enter -> the table; the login page's first contentful paint.
async function login(page) {
  await page.goto(URL + '/', { waitUntil: 'domcontentloaded', timeout: 30000 });
  await page.waitForSelector('#token:focus', { timeout: 30000 });
  await page.keyboard.type(TOKEN);
  const submitMs = await page.evaluate(() => performance.now());
  await page.keyboard.press('Enter');
  await page.waitForSelector('body[data-ready="#/compliance"]', { timeout: 30000 });
  const readyMs = Number(await page.getAttribute('body', 'data-ready-ms'));
  const fcp = await page.evaluate(() =>
    (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null);
  return { login_ms: Math.round(readyMs - submitMs), login_fcp_ms: fcp === null ? null : Math.round(fcp),
    rows: await rows(page) };
}

// One full load of the logged-in tab, timed by the page.
async function load(page, cdp, cold) {
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: cold });
  cdp.net = { requests: 0, cached: 0 };
  await page.reload({ waitUntil: 'domcontentloaded', timeout: 30000 });
  await page.waitForSelector('body[data-ready="#/compliance"]', { timeout: 30000 });
  const readyMs = Number(await page.getAttribute('body', 'data-ready-ms'));
  const paintedMs = await page.evaluate(() => window.__qsPainted);
  return { cache: cold ? 'cold' : 'warm', ready_ms: readyMs, painted_ms: Math.round(paintedMs),
    rows: await rows(page), requests: cdp.net.requests, from_cache: cdp.net.cached };
}

(async () => {
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--no-first-run'],
      timeout: 60000,
    });
  } catch (e) {
    console.error('cannot start chromium: ' + e.message.split('\n')[0]);
    process.exit(3);
  }
  let rc = 0;
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    await page.addInitScript(watchReady);
    const cdp = await ctx.newCDPSession(page);
    // Requests of each load, and how many the cache answered (200 or 304 from
    // qs-web are not cached answers): shows that cold was cold, warm warm.
    await cdp.send('Network.enable');
    cdp.on('Network.requestWillBeSent', () => { if (cdp.net) cdp.net.requests++; });
    cdp.on('Network.requestServedFromCache', () => { if (cdp.net) cdp.net.cached++; });
    const first = await login(page);
    const loads = [];
    for (let i = 0; i < LOADS; i++) loads.push(await load(page, cdp, i === 0));
    await ctx.close();
    if (problems.length) throw new Error('page error: ' + problems.join(' | '));
    const ready = loads.map((l) => l.ready_ms);
    const warm = ready.slice(1);
    console.log(JSON.stringify({
      chromium: browser.version(), loads: LOADS, rows: first.rows,
      median_ms: median(ready), cold_ms: ready[0],
      warm_median_ms: warm.length ? median(warm) : null,
      painted_median_ms: median(loads.map((l) => l.painted_ms)),
      login_ms: first.login_ms, login_fcp_ms: first.login_fcp_ms,
      runs: loads,
    }));
  } catch (e) {
    console.error(e.message);
    rc = 1;
  } finally {
    await browser.close();
  }
  process.exit(rc);
})();
