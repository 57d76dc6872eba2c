// quietstate dashboard: plain JavaScript over qs-web's API (docs/api.md, docs/dashboard.md).
//
// The token lives in this tab's sessionStorage only and travels as an
// Authorization header, never in a URL. Every value from the server is put
// into the page with textContent (never as HTML), so nothing it holds can
// run. A suppressed cell (count null) is shown as "<k", never as a number,
// and its percent as "–".
'use strict';

const TOKEN_KEY = 'qs_token';
const state = { token: sessionStorage.getItem(TOKEN_KEY), me: null, gen: 0 };
const STATE_ORDER = ['installed', 'required', 'failed'];

// ---- small DOM helpers ----
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined)
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
const $ = (id) => document.getElementById(id);

// ---- the API ----
async function api(path, opts = {}) {
  const headers = { Authorization: 'Bearer ' + state.token };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method: opts.method || 'GET', headers, cache: 'no-store', credentials: 'omit',
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    });
  } catch (e) {
    return { status: 0, body: { error: 'cannot reach qs-web: ' + e.message } };
  }
  let body = null;
  try { body = await res.json(); } catch (e) { body = { error: 'not JSON (HTTP ' + res.status + ')' }; }
  if (res.status === 401 && path !== '/api/v1/me') logout('Your token is no longer valid: log in again.');
  return { status: res.status, body };
}

function errorBox(r, what) {
  const msg = r.status === 403 ? 'Refused (403): ' + (r.body && r.body.error)
    : 'Cannot ' + what + ' (HTTP ' + r.status + '): ' + ((r.body && r.body.error) || '');
  return el('p', { class: 'msg error', role: 'alert', 'data-status': r.status, text: msg });
}

// ---- log in and out ----
async function login(token) {
  state.token = token;
  const r = await api('/api/v1/me');
  if (r.status !== 200) {
    state.token = null;
    return r.status === 401 ? 'Unknown token.' : 'Cannot log in (HTTP ' + r.status + ').';
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.me = r.body;
  return null;
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.me = null;
  $('login-msg').textContent = message || '';
  if (location.hash !== '#/login') location.hash = '#/login';
  else render();
}

// ---- compliance data ----
function cellText(row, k) { return row.count === null || row.suppressed ? '<' + k : String(row.count); }

const NO_REPORT = 'no report';   // the server's row for machines of the scope without a state
function stateClass(name) {
  return STATE_ORDER.includes(name) ? 's-' + name : name === NO_REPORT ? 's-noreport' : 's-other';
}
// The server's percent (of the topic type's machines, rounded to 0.01), or '–' when hidden.
function serverPct(c) { return c && c.count !== null && typeof c.percent === 'number' ? c.percent.toFixed(2) + '%' : '–'; }

// Rows grouped by (topic type, topic id) in the server's order.
function groupUpdates(rows) {
  const map = new Map();
  for (const r of rows) {
    const key = r.topic_type + '\u0000' + r.topic_id;
    if (!map.has(key)) map.set(key, { topic_type: r.topic_type, topic_id: r.topic_id, cells: [] });
    map.get(key).cells.push(r);
  }
  return [...map.values()];
}

function stateNames(rows) {
  const names = [...new Set(rows.map((r) => r.state))];
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  function rank(n) { const i = STATE_ORDER.indexOf(n); return n === NO_REPORT ? 100 : i < 0 ? 99 : i; }
}

function shownTotal(cells) { return cells.reduce((s, c) => s + (c.count === null ? 0 : c.count), 0); }

function pct(n, total) { return total > 0 ? (100 * n / total).toFixed(1) + '%' : '–'; }

function bar(cells, total, label) {
  const b = el('div', { class: 'bar', role: 'img', 'aria-label': label });
  for (const c of cells) {
    if (c.count === null || total === 0) continue;
    const s = el('span', { class: stateClass(c.state), title: c.state + ' ' + pct(c.count, total) });
    s.style.width = (100 * c.count / total) + '%';   // CSSOM: allowed by style-src 'self'
    b.append(s);
  }
  return b;
}

function legend(names) {
  return el('p', { class: 'legend' }, names.map((n) => el('span', {}, el('i', { class: stateClass(n) }), n)));
}

function note(k) {
  return el('p', { class: 'note' }, 'Groups smaller than k = ' + k + ' are suppressed and shown as ',
    el('code', { text: '<' + k }), '; percentages are of the machines that report the topic type (its scope); "' +
    NO_REPORT + '": machines of the scope without a state for the update.');
}

// ---- views ----
async function viewCompliance(view) {
  view.append(el('h2', { text: 'Fleet compliance per update' }));
  const r = await api('/api/v1/compliance');
  if (r.status !== 200) return view.append(errorBox(r, 'read compliance'));
  const { k, rows } = r.body;
  const names = stateNames(rows);
  const updates = groupUpdates(rows);
  view.append(note(k), legend(names));
  if (updates.length === 0) return view.append(el('p', { text: 'No compliance data yet.' }));
  const head = el('tr', {}, el('th', { scope: 'col', text: 'Type', class: 'wide-only' }),
    el('th', { scope: 'col', text: 'Update' }),
    names.map((n) => el('th', { scope: 'col', class: 'num', text: n })),
    el('th', { scope: 'col', class: 'num', text: 'Installed' }),
    el('th', { scope: 'col', class: 'num wide-only', text: 'Machines' }),
    el('th', { scope: 'col', text: 'Share', class: 'wide-only' }));
  const body = updates.map((u) => {
    const total = u.cells[0].scope || shownTotal(u.cells);
    const inst = u.cells.find((c) => c.state === 'installed' && c.count !== null);
    return el('tr', { 'data-topic-type': u.topic_type, 'data-topic-id': u.topic_id },
      el('td', { class: 'wide-only', text: u.topic_type }),
      el('td', {}, el('a', { href: '#/update/' + u.topic_type + '/' + encodeURIComponent(u.topic_id),
        text: u.topic_id })),
      names.map((n) => {
        const c = u.cells.find((x) => x.state === n);
        if (!c) return el('td', { class: 'num', text: '' });
        return el('td', { class: 'num' + (c.count === null ? ' suppressed' : ''), 'data-state': n,
          'data-state-id': c.state_id === null ? 'none' : c.state_id,
          'data-percent': c.percent === null ? '' : c.percent, title: serverPct(c), text: cellText(c, k) });
      }),
      el('td', { class: 'num pct', text: serverPct(inst) }),
      el('td', { class: 'num wide-only', text: u.cells[0].scope }),
      el('td', { class: 'wide-only' }, bar(u.cells, total, 'states of ' + u.topic_id)));
  });
  view.append(el('div', { class: 'table-wrap' },
    el('table', { id: 'compliance-table' }, el('thead', {}, head), el('tbody', {}, body))));
}

async function viewUpdate(view, type, id) {
  view.append(el('p', {}, el('a', { href: '#/compliance', text: '← all updates' })),
    el('h2', { text: 'Update ' + id + ' (topic type ' + type + ')' }));
  const q = '?topic_type=' + encodeURIComponent(type) + '&topic_id=' + encodeURIComponent(id);
  const r = await api('/api/v1/compliance' + q);
  if (r.status !== 200) return view.append(errorBox(r, 'read this update'));
  const { k, rows } = r.body;
  const total = rows.length ? rows[0].scope : 0;
  view.append(note(k), bar(rows, total, 'states of ' + id),
    el('p', { class: 'note', text: total + ' machines report topic type ' + type + '.' }));
  view.append(el('div', { class: 'table-wrap' }, el('table', { id: 'update-table' },
    el('thead', {}, el('tr', {}, ['State', 'Machines', 'Share'].map((h, i) =>
      el('th', { scope: 'col', class: i ? 'num' : null, text: h })))),
    el('tbody', {}, rows.map((c) => el('tr', { 'data-state': c.state },
      el('td', { text: c.state }),
      el('td', { class: 'num' + (c.count === null ? ' suppressed' : ''), text: cellText(c, k) }),
      el('td', { class: 'num pct', text: serverPct(c) })))))));
  view.append(await trendSection(type, id));
}

// ---- the trend of one update (GET /api/v1/compliance/trend) ----
const TREND_DAYS = 30;
const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v; else e.setAttribute(k, String(v));
  }
  for (const c of children) e.append(c);
  return e;
}

// The state charted: 'installed' where the topic type has it, else 'compliant', else the first.
function trendState(rows) {
  const names = new Set(rows.map((r) => r.state));
  return names.has('installed') ? 'installed' : names.has('compliant') ? 'compliant'
    : (rows[0] ? rows[0].state : 'installed');
}

// One point per day of the answer: the share of machines in the charted
// state, or null (a gap) where the day has no snapshot ("missing"), no
// machine, or a suppressed cell: a gap, never a made-up number.
function trendPoints(doc) {
  const target = trendState(doc.rows);
  const byDay = new Map();
  for (const r of doc.rows) {
    if (!byDay.has(r.day)) byDay.set(r.day, []);
    byDay.get(r.day).push(r);
  }
  const first = Date.parse(doc.first_day + 'T00:00:00Z');
  const pts = [];
  for (let i = 0; i < doc.days; i++) {
    const day = new Date(first + i * 86400000).toISOString().slice(0, 10);
    const cells = byDay.get(day) || [];
    let value = null;
    if (cells.length && cells.every((c) => c.count !== null)) {
      const total = cells.reduce((s, c) => s + c.count, 0);
      const hit = cells.filter((c) => c.state === target).reduce((s, c) => s + c.count, 0);
      if (total > 0) value = 100 * hit / total;
    }
    pts.push({ day, value });
  }
  return { target, pts };
}

function trendSvg(target, pts) {
  const W = 600, H = 180, L = 40, R = 10, T = 10, B = 24;
  const x = (i) => L + (pts.length > 1 ? i * (W - L - R) / (pts.length - 1) : (W - L - R) / 2);
  const y = (v) => T + (100 - v) * (H - T - B) / 100;
  const s = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'trend', role: 'img',
    'aria-label': 'share ' + target + ' per day' });
  for (const v of [0, 50, 100]) {
    s.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      svg('text', { class: 'axis', x: L - 4, y: y(v) + 4, 'text-anchor': 'end', text: v + '%' }));
  }
  s.append(svg('text', { class: 'axis', x: L, y: H - 6, text: pts[0].day }),
    svg('text', { class: 'axis', x: W - R, y: H - 6, 'text-anchor': 'end', text: pts[pts.length - 1].day }));
  let d = '', pen = false;
  pts.forEach((p, i) => {
    if (p.value === null) { pen = false; return; }
    d += (pen ? ' L' : ' M') + x(i).toFixed(1) + ' ' + y(p.value).toFixed(1);
    pen = true;
  });
  if (d) s.append(svg('path', { class: 'trend-line', d: d.trim() }));
  pts.forEach((p, i) => {
    if (p.value === null) return;
    s.append(svg('circle', { class: 'pt', cx: x(i).toFixed(1), cy: y(p.value).toFixed(1), r: 3,
      'data-day': p.day, 'data-pct': p.value.toFixed(1) },
    svg('title', { text: p.day + ': ' + p.value.toFixed(1) + '% ' + target })));
  });
  return s;
}

async function trendSection(type, id) {
  const sec = el('section', { id: 'trend', 'aria-labelledby': 'trend-h' });
  const q = '?days=' + TREND_DAYS + '&topic_type=' + encodeURIComponent(type) +
    '&topic_id=' + encodeURIComponent(id);
  const r = await api('/api/v1/compliance/trend' + q);
  if (r.status !== 200) { sec.append(errorBox(r, 'read the trend')); return sec; }
  const { target, pts } = trendPoints(r.body);
  const shown = pts.filter((p) => p.value !== null).length;
  sec.append(el('h3', { id: 'trend-h', text: 'Share ' + target + ', last ' + TREND_DAYS + ' days (UTC)' }),
    trendSvg(target, pts),
    el('p', { class: 'note', id: 'trend-note', 'data-points': shown,
      text: shown + ' of ' + pts.length + ' days drawn; a gap is a day without a snapshot ' +
        '(qs-retention did not run) or with a suppressed cell, never 0.' }));
  return sec;
}

async function viewTypes(view) {
  view.append(el('h2', { text: 'Compliance per topic type' }));
  const r = await api('/api/v1/compliance');
  if (r.status !== 200) return view.append(errorBox(r, 'read compliance'));
  const { k, rows } = r.body;
  const types = [...new Set(rows.map((x) => x.topic_type))];
  view.append(note(k), el('p', { class: 'note', text: 'Sums of the cells shown; suppressed cells are counted, not added.' }));
  for (const t of types) {
    const of = rows.filter((x) => x.topic_type === t && x.state_id !== null);
    const sums = stateNames(of).map((n) => ({
      state: n, count: of.filter((x) => x.state === n && x.count !== null).reduce((s, x) => s + x.count, 0),
      hidden: of.filter((x) => x.state === n && x.count === null).length,
    }));
    const total = sums.reduce((s, x) => s + x.count, 0);
    view.append(el('h3', { text: 'Topic type ' + t + ' (' + new Set(of.map((x) => x.topic_id)).size + ' updates)' }),
      bar(sums, total, 'states of topic type ' + t),
      el('div', { class: 'table-wrap' }, el('table', { 'data-topic-type': t },
        el('thead', {}, el('tr', {}, ['State', 'Machines shown', 'Share', 'Suppressed cells'].map((h, i) =>
          el('th', { scope: 'col', class: i ? 'num' : null, text: h })))),
        el('tbody', {}, sums.map((s) => el('tr', {}, el('td', { text: s.state }),
          el('td', { class: 'num', text: s.count }), el('td', { class: 'num pct', text: pct(s.count, total) }),
          el('td', { class: 'num', text: s.hidden ? s.hidden + ' (<' + k + ' each)' : '0' })))))));
  }
}

function policyList(p) {
  const dl = el('dl', { class: 'kv', id: 'policy' });
  const items = [['k (suppression threshold)', p.k, 'k'], ['Maximum age (days)', p.max_age_days, 'max_age_days'],
    ['Per topic type', JSON.stringify(p.topic_max_age_days || {}), 'topic_max_age_days'],
    ['Collect user names', p.collect_user_names ? 'yes' : 'no', 'collect_user_names'],
    ['Time precision', p.time_precision, 'time_precision'],
    ['Version', p.version + ' (' + p.set_utc + ', ' + p.actor + ')', 'version']];
  for (const [label, v, key] of items) dl.append(el('dt', { text: label }), el('dd', { 'data-key': key, text: v }));
  return dl;
}

async function viewPrivacy(view) {
  view.append(el('h2', { text: 'Privacy: policy, history, audit chain' }));
  const [pol, hist, chain] = await Promise.all([api('/api/v1/policy'), api('/api/v1/policy/history'),
    api('/api/v1/audit/verify')]);
  if (chain.status === 200) {
    const c = chain.body;
    view.append(el('h3', { text: 'Audit chain' }), el('p', { id: 'chain', class: c.intact ? 'chain-ok' : 'chain-bad',
      text: c.intact ? 'Intact: ' + c.entries + ' entries verified.' : 'BROKEN at entry ' + c.bad_seq + ': ' + c.finding }));
  } else view.append(errorBox(chain, 'verify the audit chain'));
  if (pol.status !== 200) return view.append(errorBox(pol, 'read the policy'));
  const p = pol.body;
  view.append(el('h3', { text: 'Current policy' }),
    p.configured === false ? el('p', { text: 'No policy yet: nothing is collected.' }) : policyList(p));
  if (hist.status !== 200) view.append(errorBox(hist, 'read the policy history'));
  else view.append(el('h3', { text: 'History' }), el('div', { class: 'table-wrap' }, el('table', { id: 'history' },
    el('thead', {}, el('tr', {}, ['Version', 'Set', 'By', 'k', 'Max age', 'Precision'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, [...hist.body.versions].reverse().map((v) => el('tr', {},
      [v.version, v.set_utc, v.actor, v.k, v.max_age_days, v.time_precision].map((x) => el('td', { text: x }))))))));
  view.append(policyForm(p));
}

function policyForm(p) {
  const msg = el('p', { class: 'msg', role: 'status', id: 'policy-msg' });
  const k = el('input', { id: 'f-k', type: 'number', min: 1, max: 1000000, required: true, value: p.k || 5 });
  const age = el('input', { id: 'f-age', type: 'number', min: 1, required: true, value: p.max_age_days || 30 });
  const prec = el('select', { id: 'f-prec' }, ['second', 'minute', 'hour', 'day'].map((x) =>
    el('option', { value: x, selected: x === p.time_precision, text: x })));
  const users = el('input', { id: 'f-users', type: 'checkbox', checked: !!p.collect_user_names });
  const form = el('form', { id: 'policy-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const body = { k: Number(k.value), max_age_days: Number(age.value), time_precision: prec.value,
      collect_user_names: users.checked };
    const r = await api('/api/v1/policy', { method: 'PUT', body });
    if (r.status !== 200) { msg.className = 'msg error'; msg.textContent = 'Not changed (HTTP ' + r.status + '): ' + r.body.error; return; }
    msg.className = 'msg ok';
    msg.textContent = r.body.changed ? 'Saved as version ' + r.body.version + '.' : 'Nothing to change.';
    if (r.body.changed) setTimeout(render, 300);
  } },
  el('label', { for: 'f-k', text: 'k (smallest group shown)' }), k,
  el('label', { for: 'f-age', text: 'Maximum age (days)' }), age,
  el('label', { for: 'f-prec', text: 'Time precision' }), prec,
  el('label', { class: 'inline' }, users, 'Collect user names'),
  el('button', { type: 'submit', text: 'Change the policy' }), msg);
  return el('section', { 'aria-labelledby': 'pf-h' }, el('h3', { id: 'pf-h', text: 'Change the policy' }),
    el('p', { class: 'note', text: 'Saved as a new version with an audit entry under your name.' }), form);
}

function viewLookup(view) {
  view.append(el('h2', { text: 'Look up one machine' }));
  if (state.me.role !== 'admin')
    view.append(el('p', { class: 'msg error', id: 'lookup-refused', role: 'alert',
      text: 'Your role (' + state.me.role + ') may not look up a machine: only admins may, with a reason, and the server refuses it (403).' }));
  const out = el('div', { id: 'lookup-out', 'aria-live': 'polite' });
  const name = el('input', { id: 'l-name', required: true, maxlength: 255, spellcheck: 'false' });
  const reason = el('input', { id: 'l-reason', required: true, maxlength: 256 });
  const hist = el('input', { id: 'l-hist', type: 'checkbox' });
  const form = el('form', { id: 'lookup-form', onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren(el('p', { text: 'Asking…' }));
    const q = '?reason=' + encodeURIComponent(reason.value) + (hist.checked ? '&history=1' : '');
    const r = await api('/api/v1/machines/' + encodeURIComponent(name.value) + q);
    if (r.status !== 200) return out.replaceChildren(errorBox(r, 'look up this machine'));
    const rows = r.body.rows || [];
    const cols = rows.length ? Object.keys(rows[0]) : [];
    out.replaceChildren(el('p', { text: rows.length + ' rows (this lookup is in the audit log).' }),
      el('div', { class: 'table-wrap' }, el('table', { id: 'lookup-table' },
        el('thead', {}, el('tr', {}, cols.map((c) => el('th', { scope: 'col', text: c })))),
        el('tbody', {}, rows.map((row) => el('tr', {}, cols.map((c) =>
          el('td', { text: typeof row[c] === 'object' ? JSON.stringify(row[c]) : row[c] }))))))));
  } },
  el('label', { for: 'l-name', text: 'Machine name' }), name,
  el('label', { for: 'l-reason', text: 'Reason (kept in the audit log)' }), reason,
  el('label', { class: 'inline' }, hist, 'With history'),
  el('button', { type: 'submit', text: 'Look up' }));
  view.append(form, out);
}

// ---- routing ----
const routes = [
  [/^#\/compliance$/, viewCompliance], [/^#\/types$/, viewTypes], [/^#\/privacy$/, viewPrivacy],
  [/^#\/lookup$/, viewLookup],
  [/^#\/update\/(\d+)\/(.+)$/, (v, m) => viewUpdate(v, m[1], decodeURIComponent(m[2]))],
];

async function render() {
  const loggedIn = !!state.token;
  if (loggedIn && !state.me) {
    const err = await login(state.token);
    if (err) return logout(err);
  }
  $('login-view').hidden = loggedIn;
  $('nav').hidden = !loggedIn;
  $('view').hidden = !loggedIn;
  $('who').textContent = loggedIn ? state.me.user + ' (' + state.me.role + ')' : '';
  if (!loggedIn) { $('token').focus(); return; }
  for (const a of document.querySelectorAll('#nav a')) {
    a.hidden = a.dataset.role && a.dataset.role !== state.me.role;
    if (a.getAttribute('href') === location.hash) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const hit = routes.map(([re, fn]) => [location.hash.match(re), fn]).find(([m]) => m);
  if (!hit) { location.replace('#/compliance'); return; }
  const gen = ++state.gen;   // a newer render (hash change) wins over a slower one
  const view = el('div');
  $('view').setAttribute('aria-busy', 'true');
  await hit[1](view, hit[0]);
  if (gen !== state.gen) return;
  $('view').replaceChildren(view);
  $('view').setAttribute('aria-busy', 'false');
  document.body.dataset.ready = location.hash;   // for tests: this view is drawn, and when
  document.body.dataset.readyMs = Math.round(performance.now());
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = await login($('token').value.trim());
    $('token').value = '';
    if (err) { $('login-msg').textContent = err; return; }
    $('login-msg').textContent = '';
    if (location.hash === '#/compliance') render(); else location.hash = '#/compliance';
  });
  $('logout').addEventListener('click', () => logout('Logged out.'));
  window.addEventListener('hashchange', render);
  render();
});
