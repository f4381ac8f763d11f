// Actuators and dead letters, beside the points.

import { L, t, tx } from './texts.js';
import { $, badge, button, h } from './dom.js';
import { agoEl, fmtWhen } from './clock.js';
import { place, state, who } from './state.js';
import { act, api, errBox } from './api.js';
import { pointRow, points } from './points.js';
import { commandCell } from './actuate.js';

export const extra = { open: { actuators: false, deadletters: false }, actuators: null, letters: null, limit: 50 };

/** A translated code when the table knows it, else the code itself. */
export function tk(prefix, value) {
  const key = `${prefix}.${value}`;
  return L[key] ? t(key) : String(value == null ? '' : value);
}

export function loadExtras() {
  loadActuators();
  loadDeadLetters();
}

export async function loadActuators(btn) {
  const data = await act('actuators', btn, () => api('GET', '/api/actuators'));
  if (data) {
    extra.actuators = data.actuators;
    paintSection('actuators');
  }
}

export async function loadDeadLetters(btn) {
  const data = await act('deadletters', btn, () => api('GET', `/api/deadletters?limit=${extra.limit}`));
  if (data) {
    extra.letters = data.dead_letters;
    paintSection('deadletters');
  }
}

export function paintSection(name) {
  const old = $(`#sec-${name}`);
  if (!old) return;
  // a reason being typed (a command's confirmation) keeps its focus through a live update
  const active = document.activeElement;
  const key = active && old.contains(active) && active.dataset ? active.dataset.key : null;
  const fresh = name === 'actuators' ? actuatorsSection() : deadLettersSection();
  old.replaceWith(fresh);
  const again = key ? fresh.querySelector(`[data-key="${CSS.escape(key)}"]`) : null;
  if (again) again.focus({ preventScroll: true });
}

let actuatorsDue = 0;
/** An action's event (a command sent, confirmed, failed): the actuators' rows are loaded
 * afresh, once for a burst of them. */
export function onActuatorEvent(event) {
  if (!extra.actuators || state.route.name !== 'points' || !String(event.kind).startsWith('action_')) return;
  const id = event.data && event.data.actuator;
  if (!extra.actuators.some((a) => a.id === id)) return;
  clearTimeout(actuatorsDue);
  actuatorsDue = setTimeout(() => loadActuators(), 150);
}

/** A collapsible card: its open state survives re-rendering; opening it loads it afresh. */
export function foldSection(name, title, sub, count, body, reload) {
  const details = h('details', { class: 'card fold', id: `sec-${name}`, dataset: { section: name } },
    h('summary', { class: 'fold-head' },
      h('h2', { class: 'card-title' }, title),
      count == null ? null : badge(String(count), 'badge-quiet')),
    h('div', { class: 'fold-tools' },
      h('p', { class: 'muted small' }, sub),
      button(t('btn.refresh'), 'btn-ghost btn-small', (e) => reload(e.currentTarget), { dataset: { refresh: name } })),
    errBox(name),
    body);
  details.open = extra.open[name];
  details.addEventListener('toggle', () => {
    const was = extra.open[name];
    extra.open[name] = details.open;
    if (details.open && !was) reload();
  });
  return details;
}

export function actuatorsSection() {
  const list = extra.actuators;
  let body;
  if (!list) body = h('p', { class: 'muted' }, t('inc.loading'));
  else if (!list.length) body = h('p', { class: 'muted' }, t('act.none'));
  else {
    body = h('div', { class: 'table-wrap' }, h('table', { class: 'table actuators-table' },
      h('thead', {}, h('tr', {}, [t('act.device'), t('points.kind'), t('col.place'), t('act.commands'),
        t('act.last'), t('act.feedback')].map((x) => h('th', {}, x)))),
      h('tbody', {}, list.map(actuatorRow))));
  }
  return foldSection('actuators', t('act.title'), t('act.sub'), list ? list.length : null, body, loadActuators);
}

export function actuatorRow(a) {
  const last = a.last;
  const commands = a.commands || {};
  const commandName = (c) => (commands[c] ? tx(commands[c]) : c);
  const lastCell = last ? h('div', { class: 'act-last' },
    h('div', {}, last.command ? h('span', {}, commandName(last.command)) : null,
      ' ', badge(tk('action.status', last.status), `act-status act-${last.status}`)),
    h('div', { class: 'muted small' }, fmtWhen(last.at), last.incident_id ? ' · ' : '',
      last.incident_id ? h('a', { class: 'mono', href: `#/incident/${encodeURIComponent(last.incident_id)}` }, last.incident_id) : null),
    last.by ? h('div', { class: 'muted small act-by' }, t('act.byhand', { who: who(last.by), reason: last.reason || '' })) : null,
    last.detail ? h('div', { class: 'muted small act-detail' }, tx(last.detail_text) || last.detail) : null)
    : h('span', { class: 'muted' }, t('act.nolast'));
  const feedback = (a.feedback || []).length ? h('ul', { class: 'plain-list feedback-list' }, a.feedback.map((f) => h('li', {
    class: `feedback state-${f.state}`, dataset: { feedback: f.point } },
  h('span', {}, f.name ? tx(f.name) : f.point),
  h('span', { class: 'muted small' }, ` (${commandName(f.command)}) `),
  badge(tk('state', f.state), `state-badge state-${f.state}`),
  h('span', { class: 'mono' }, ` ${f.value == null ? '—' : String(f.value)} `),
  agoEl(f.last_seen))))
    : h('span', { class: 'muted small' }, t('act.nofeedback'));
  return h('tr', { dataset: { actuator: a.id } },
    h('td', {}, h('div', {}, tx(a.name)), h('div', { class: 'mono muted small' }, a.id)),
    h('td', {}, tk('akind', a.kind)),
    h('td', {}, place(a.location)),
    h('td', { class: 'act-commands' }, commandCell(a, commandName, () => paintSection('actuators'), () => loadActuators())),
    h('td', {}, lastCell),
    h('td', {}, feedback));
}

export function deadLettersSection() {
  const list = extra.letters;
  let body;
  if (!list) body = h('p', { class: 'muted' }, t('inc.loading'));
  else if (!list.length) body = h('p', { class: 'muted' }, t('dl.none'));
  else {
    body = h('div', { class: 'table-wrap' }, h('table', { class: 'table deadletters-table' },
      h('thead', {}, h('tr', {}, [t('dl.at'), t('dl.source'), t('dl.topic'), t('dl.reason'), t('dl.detail'),
        t('dl.size'), t('dl.payload')].map((x) => h('th', {}, x)))),
      h('tbody', {}, list.map((d) => h('tr', { class: 'deadletter-row', dataset: { topic: d.topic, reason: d.reason } },
        h('td', { class: 'nowrap' }, fmtWhen(d.at)),
        h('td', {}, d.source),
        h('td', { class: 'mono' }, d.topic),
        h('td', { title: d.reason }, tk('dl.reason', d.reason)),
        h('td', { class: 'small' }, d.detail),
        h('td', { class: 'num' }, String(d.size)),
        h('td', {}, h('pre', { class: 'payload mono' }, d.payload)))))));
  }
  return foldSection('deadletters', t('dl.title'), t('dl.sub', { n: extra.limit }), list ? list.length : null, body, loadDeadLetters);
}

export function onActuatorFeedback(update) {
  if (!extra.actuators || state.route.name !== 'points') return;
  let hit = false;
  for (const a of extra.actuators) {
    for (const f of a.feedback || []) {
      if (f.point === update.id) {
        Object.assign(f, { state: update.state, value: update.value, last_seen: update.last_seen });
        hit = true;
      }
    }
  }
  if (hit) paintSection('actuators');
}

export function fillPointRows() {
  const tbody = $('#points-body');
  if (!tbody) return;
  const q = points.filters.q.trim().toLowerCase();
  const list = points.list.filter((p) => !q || p.id.toLowerCase().includes(q)
    || tx(p.name).toLowerCase().includes(q) || (p.name.zh || '').includes(q));
  // offline and alarming points first, then by id
  const rank = { alarm: 0, offline: 1, trouble: 2, prealarm: 3, test: 4, normal: 5, unknown: 6 };
  list.sort((a, b) => ((rank[a.state] ?? 9) - (rank[b.state] ?? 9)) || a.id.localeCompare(b.id, undefined, { numeric: true }));
  points.rows = new Map();
  const rows = list.map((p) => {
    const tr = pointRow(p);
    points.rows.set(p.id, { point: p, tr });
    return tr;
  });
  tbody.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: '8', class: 'muted' }, t('points.none')))]));
}
