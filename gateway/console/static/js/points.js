// The points: their states live, filters, and the walk test.

import { lang, t, tx } from './texts.js';
import { $, badge, button, h } from './dom.js';
import { ageEl, agoEl, fmtWhen, now } from './clock.js';
import { errors, may, place, state } from './state.js';
import { act, api, errBox } from './api.js';
import { start } from './session.js';
import { card } from './incident.js';
import { actuatorsSection, deadLettersSection, fillPointRows, loadExtras, onActuatorFeedback } from './equipment.js';
import { explainSection } from './explain.js';

export const points = {
  list: [], // the rows for the current filters
  rows: new Map(), // id → {point, tr}
  meta: new Map(), // id → point (every point, for names in the walk test)
  filters: { building: '', kind: '', state: '', q: '' },
};

export const walk = { active: false, start: 0, seen: new Map(), last: null };

export async function loadPoints() {
  const f = points.filters;
  const query = new URLSearchParams();
  if (f.building) query.set('building', f.building);
  if (f.kind) query.set('kind', f.kind);
  if (f.state) query.set('state', f.state);
  const data = await api('GET', `/api/points${query.toString() ? `?${query}` : ''}`);
  points.list = data.points;
  for (const p of data.points) points.meta.set(p.id, p);
  if (state.route.name === 'points') renderPoints(false);
}

export async function loadMeta() {
  const data = await api('GET', '/api/points');
  for (const p of data.points) points.meta.set(p.id, p);
}

export function onPoint(update) {
  const meta = points.meta.get(update.id);
  const { id, ...fields } = update;
  if (meta) Object.assign(meta, fields, { offline: update.state === 'offline' });
  const row = points.rows.get(id);
  if (row) {
    Object.assign(row.point, fields, { offline: update.state === 'offline' });
    const fresh = pointRow(row.point);
    row.tr.replaceWith(fresh);
    row.tr = fresh;
    fresh.classList.add('just-updated');
  } else if (meta && state.route.name === 'points' && matchesFilters(meta)
             && !points.list.some((p) => p.id === meta.id)) {
    points.list.push(meta); // e.g. a point that has just gone into the state filtered on
    fillPointRows();
  }
  onActuatorFeedback(update);
  if (walk.active && walked(update, meta)) {
    const seen = walk.seen.get(update.id);
    walk.seen.set(update.id, { ...update, count: (seen ? seen.count : 0) + 1 });
    scheduleWalk();
  }
}

/** What the walk test lists: what a person set off. A device that reports by itself (MQTT, a
 * panel) counts when it reports; a polled register only when its state changes, not each time
 * a poll reads a new value. */
export function walked(p, meta) {
  const source = (meta && meta.source) || p.source || '';
  const changed = p.since != null && p.since >= walk.start;
  const reported = p.last_seen != null && p.last_seen >= walk.start;
  return changed || (reported && !source.startsWith('modbus:'));
}

export let walkFrame = 0;
export function scheduleWalk() {
  cancelAnimationFrame(walkFrame);
  walkFrame = requestAnimationFrame(() => {
    const box = $('#walk');
    if (box) box.replaceWith(walkCard());
  });
}

export function saveWalk() {
  if (walk.active) localStorage.setItem('ag.walk', JSON.stringify({ start: walk.start }));
  else localStorage.removeItem('ag.walk');
}

export function restoreWalk() {
  try {
    const saved = JSON.parse(localStorage.getItem('ag.walk') || 'null');
    if (saved && saved.start && may('walk_test')) {
      walk.active = true;
      walk.start = saved.start;
      walk.seen = new Map();
      loadWalkSince();
    }
  } catch { /* nothing saved */ }
}

export async function loadWalkSince() {
  try {
    if (!points.meta.size) await loadMeta();
    const data = await api('GET', `/api/points?seen_since=${encodeURIComponent(walk.start)}`);
    for (const p of data.points) {
      if (walked(p, points.meta.get(p.id)) && !walk.seen.has(p.id)) walk.seen.set(p.id, { id: p.id, state: p.state, last_seen: p.last_seen, value: p.value, count: 1 });
    }
    scheduleWalk();
  } catch { /* shown by the stream state */ }
}

export async function startWalk(e) {
  walk.active = true;
  walk.start = now();
  walk.seen = new Map();
  walk.last = null;
  saveWalk();
  scheduleWalk();
  await act('walk', e && e.currentTarget, loadMeta);
  scheduleWalk();
}

export function stopWalk() {
  walk.last = { start: walk.start, until: now(), count: walk.seen.size };
  walk.active = false;
  saveWalk();
  scheduleWalk();
}

/** The walk's record, every point of the scope with whether and when it reported: to print. */
function recordLink(since, until) {
  const building = points.filters && points.filters.building ? `&building=${encodeURIComponent(points.filters.building)}` : '';
  const end = until ? `&until=${until}` : '';
  return h('a', { class: 'btn btn-ghost btn-small', href: `/api/walk-record?since=${since}${end}${building}&lang=${lang}`,
    target: '_blank', rel: 'noopener', dataset: { walkRecord: '1' } }, t('walk.record'));
}

export function walkCard() {
  if (!may('walk_test')) return h('span', { id: 'walk', hidden: true });
  const seen = [...walk.seen.values()].sort((a, b) => (b.last_seen || 0) - (a.last_seen || 0));
  return h('section', { id: 'walk', class: `card walk ${walk.active ? 'walk-on' : ''}`, dataset: { active: walk.active ? 'yes' : 'no' } },
    h('div', { class: 'walk-head' },
      h('div', {}, h('h2', { class: 'card-title' }, t('walk.title')), h('p', { class: 'muted small' }, t('walk.sub'))),
      walk.active
        ? button(t('walk.stop'), 'btn-danger btn-lg', stopWalk, { dataset: { action: 'walk-stop' } })
        : button(t('walk.start'), 'btn-primary btn-lg', startWalk, { dataset: { action: 'walk-start' } })),
    errBox('walk'),
    walk.active ? h('div', { class: 'walk-status' },
      h('span', {}, t('walk.since', { at: fmtWhen(walk.start) }), ageEl(walk.start)),
      h('strong', { class: 'walk-count', dataset: { count: String(seen.length) } }, t('walk.count', { n: seen.length }))) : null,
    !walk.active && walk.last ? h('p', { class: 'muted' }, t('walk.stopped', { at: fmtWhen(walk.last.start), n: walk.last.count }), ' ',
      recordLink(walk.last.start, walk.last.until)) : null,
    walk.active ? h('p', { class: 'small' }, recordLink(walk.start, null)) : null,
    walk.active ? (seen.length ? h('table', { class: 'table walk-table' },
      h('thead', {}, h('tr', {}, [t('points.id'), t('points.name'), t('col.place'), t('points.state'), t('points.value'), t('points.lastseen'), t('walk.reports')].map((x) => h('th', {}, x)))),
      h('tbody', {}, seen.map((s) => {
        const meta = points.meta.get(s.id);
        return h('tr', { class: `state-${s.state}`, dataset: { pid: s.id } },
          h('td', { class: 'mono' }, s.id),
          h('td', {}, meta ? tx(meta.name) : ''),
          h('td', {}, meta ? place(meta.location) : ''),
          h('td', {}, badge(t(`state.${s.state}`), `state-badge state-${s.state}`)),
          h('td', { class: 'mono' }, s.value == null ? '—' : String(s.value)),
          h('td', {}, agoEl(s.last_seen)),
          h('td', { class: 'num' }, String(s.count)));
      }))) : h('p', { class: 'muted' }, t('walk.none'))) : null);
}

export function matchesFilters(p) {
  const f = points.filters;
  return (!f.building || p.location.building === f.building) && (!f.kind || p.kind === f.kind)
    && (!f.state || p.state === f.state);
}

export function pointRow(p) {
  const cls = [`state-${p.state}`];
  if (p.offline) cls.push('offline');
  return h('tr', { class: cls.join(' '), dataset: { pid: p.id, state: p.state } },
    h('td', { class: 'mono' }, p.id),
    h('td', {}, tx(p.name)),
    h('td', {}, t(`kind.${p.kind}`) === `kind.${p.kind}` ? p.kind : t(`kind.${p.kind}`)),
    h('td', {}, place(p.location)),
    h('td', { title: p.offline_reason || '' }, badge(t(`state.${p.state}`) || p.state, `state-badge state-${p.state}`),
      ...(p.conditions || []).map((c) => h('span', { class: 'badge badge-condition', dataset: { condition: c.id } }, tx(c))),
      p.chattering ? badge(t('points.chattering', { n: p.chattering }), 'badge-chatter') : null,
      p.offline_reason ? h('span', { class: 'muted small offline-why' }, p.offline_reason) : null),
    h('td', { class: 'mono' }, p.value == null ? '—' : String(p.value)),
    h('td', {}, agoEl(p.last_seen)),
    h('td', { class: 'muted small' }, p.since ? fmtWhen(p.since) : '—'));
}

export function renderPoints(entering) {
  const view = $('#view');
  if (entering) {
    view.replaceChildren(h('p', { class: 'muted pad' }, t('inc.loading')));
    loadExtras();
    loadPoints().catch((err) => {
      errors.set('points', err.message);
      renderPoints(false);
    });
    return;
  }
  const f = points.filters;
  const select = (name, options, label) => {
    const el = h('select', { class: 'input', 'aria-label': label, dataset: { filter: name } },
      h('option', { value: '' }, `${label}: ${t('points.all')}`),
      options.map(([value, text]) => h('option', { value }, text)));
    el.value = f[name];
    el.addEventListener('change', () => { f[name] = el.value; loadPoints().catch(() => {}); });
    return el;
  };
  const search = h('input', { class: 'input', type: 'search', placeholder: t('points.search'), 'aria-label': t('points.search'), value: f.q });
  search.addEventListener('input', () => { f.q = search.value; fillPointRows(); });
  const kinds = (state.site.point_kinds || []).map((k) => [k, t(`kind.${k}`) === `kind.${k}` ? k : t(`kind.${k}`)]);
  const states = ['normal', 'prealarm', 'alarm', 'trouble', 'offline', 'test', 'warmup', 'unknown'].map((s) => [s, t(`state.${s}`)]);
  const buildings = (state.site.buildings || []).map((b) => [b, t('place.building', { v: b })]);
  const tbody = h('tbody', { id: 'points-body' });
  const table = h('table', { class: 'table points-table' },
    h('thead', {}, h('tr', {}, [t('points.id'), t('points.name'), t('points.kind'), t('col.place'), t('points.state'),
      t('points.value'), t('points.lastseen'), t('points.since')].map((x) => h('th', {}, x)))), tbody);
  const offline = points.list.filter((p) => p.offline).length;
  view.replaceChildren(
    h('div', { class: 'view-head' },
      h('div', {}, h('h1', {}, t('points.title')), h('p', { class: 'muted' }, t('points.sub'))),
      h('div', { class: 'view-head-meta' },
        badge(t('points.count', { n: points.list.length, off: offline }), offline ? 'badge-alarm' : 'badge-quiet'))),
    walkCard(),
    may('walk_test') ? explainSection() : null,
    actuatorsSection(),
    deadLettersSection(),
    h('section', { class: 'card' },
      h('div', { class: 'filters no-print' },
        select('building', buildings, t('points.building')),
        select('kind', kinds, t('points.kind')),
        select('state', states, t('points.state')),
        search,
        button(t('btn.refresh'), 'btn-ghost', () => loadPoints().catch(() => {}))),
      errBox('points'),
      h('div', { class: 'table-wrap' }, table)));
  fillPointRows();
}
