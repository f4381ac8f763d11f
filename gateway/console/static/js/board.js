// The incident board.

import { t, tx } from './texts.js';
import { $, badge, button, h } from './dom.js';
import { ageEl, dueCell } from './clock.js';
import { errors, mayWork, places, sevBadge, state, statusBadge } from './state.js';
import { act, api, errBox, incidentPath, paintErrors, rerender } from './api.js';
import { scheduleDetail } from './incident.js';

// the most severe first; at one severity, unacknowledged and overdue before the rest, and a
// drill never above a real incident; then the newest
export function sortedIncidents() {
  return [...state.incidents.values()].sort((a, b) => (a.severity_rank - b.severity_rank)
    || (Number(a.drill) - Number(b.drill))
    || (Number(b.status === 'open') - Number(a.status === 'open'))
    || (Number(Boolean(b.overdue_since)) - Number(Boolean(a.overdue_since)))
    || (b.opened_at - a.opened_at));
}

// who is on duty now, by the site's roster: fetched when the board is drawn, at most a minute
// old (a shift changes on its minute)
const duty = { list: null, people: [], maySwap: false, swapping: '', at: 0, loading: false };

async function loadDuty() {
  if (duty.loading) return;
  duty.loading = true;
  try {
    const data = await api('GET', '/api/roster');
    duty.list = data.duty;
    duty.people = data.people || [];
    duty.maySwap = Boolean(data.may_swap);
    duty.at = Date.now();
    const box = $('#duty');
    if (box) box.replaceWith(dutyLine());
  } catch { /* the stream state shows a lost gateway */ } finally {
    duty.loading = false;
  }
}

function repaintDuty() {
  const box = $('#duty');
  if (box) box.replaceWith(dutyLine());
}

/** A supervisor's swap for the shift now running: who takes the role, and why (on record). */
function swapForm(d) {
  const person = h('select', { class: 'input', 'aria-label': t('duty.person'), dataset: { swapPerson: d.role } },
    duty.people.filter((p) => !d.person || p.id !== d.person.id).map((p) => h('option', { value: p.id }, tx(p.name))));
  const reason = h('input', { class: 'input', placeholder: t('duty.reason'), 'aria-label': t('duty.reason'), maxlength: 4000, dataset: { swapReason: d.role } });
  return h('div', { class: 'swap-form', dataset: { swap: d.role } },
    h('span', {}, t('duty.swapfor', { role: d.role_name ? tx(d.role_name) : d.role })), person, reason,
    button(t('btn.submit'), 'btn-primary btn-small', async (e) => {
      if (!reason.value.trim()) { errors.set('swap', t('err.required')); paintErrors('swap'); reason.focus(); return; }
      const ok = await act('swap', e.currentTarget, () => api('POST', '/api/roster/swap', { role: d.role, person: person.value, reason: reason.value.trim() }));
      if (ok) { duty.swapping = ''; duty.at = 0; loadDuty(); }
    }, { dataset: { action: 'swap-submit' } }),
    button(t('btn.cancel'), 'btn-ghost btn-small', () => { duty.swapping = ''; repaintDuty(); }),
    errBox('swap'));
}

function dutyLine() {
  if (!duty.list || Date.now() - duty.at > 60_000) loadDuty();
  if (!duty.list || !duty.list.length) return h('div', { id: 'duty', hidden: true });
  const swapping = duty.list.find((d) => d.role === duty.swapping);
  return h('div', { id: 'duty' }, h('div', { class: 'duty-line muted small', 'aria-label': t('duty.title') },
    h('strong', {}, `${t('duty.title')}：`),
    duty.list.map((d) => h('span', { class: 'duty-item', dataset: { role: d.role } },
      `${d.role_name ? tx(d.role_name) : d.role} `,
      h('strong', {}, d.person ? tx(d.person.name) : '—'),
      d.person && d.person.phone ? h('span', { class: 'mono' }, ` ${d.person.phone}`) : null,
      d.swapped ? ` (${t('duty.swapped')})` : '',
      duty.maySwap && d.shift ? button(t('duty.swap'), 'btn-ghost btn-tiny', () => { duty.swapping = d.role; repaintDuty(); },
        { dataset: { swapRole: d.role } }) : null))),
  swapping ? swapForm(swapping) : null);
}

export function renderBoard() {
  const view = $('#view');
  const list = sortedIncidents();
  const unacked = list.filter((i) => i.status === 'open').length;
  if (!state.loaded) {
    view.replaceChildren(h('p', { class: 'muted pad' }, t('inc.loading')));
    return;
  }
  const head = [h('div', { class: 'view-head' },
    h('h1', {}, t('board.title')),
    h('div', { class: 'view-head-meta' },
      unacked ? badge(t('board.unacked', { n: unacked }), 'badge-alarm') : null,
      badge(t('board.count', { n: list.length }), 'badge-quiet'))), dutyLine()];
  if (!list.length) {
    view.replaceChildren(...head, h('div', { class: 'empty-board' },
      h('div', { class: 'empty-mark', 'aria-hidden': 'true' }),
      h('p', { class: 'empty-title' }, t('board.empty')),
      h('p', { class: 'muted' }, t('board.empty.sub'))));
    return;
  }
  const header = h('div', { class: 'board-row board-header', role: 'row' },
    h('span', {}), h('span', {}, t('col.incident')), h('span', {}, t('col.place')),
    h('span', {}, t('col.status')), h('span', {}, t('col.stage')), h('span', {}, t('col.age')),
    h('span', {}, t('col.deadline')), h('span', {}));
  const rows = list.map(boardRow);
  rerender(view, () => [head, h('div', { class: 'board', role: 'table' }, header, rows)]);
}

export function boardRow(inc) {
  const open = () => { location.hash = `#/incident/${encodeURIComponent(inc.id)}`; };
  const key = `${inc.id}:ack`;
  const quick = inc.status === 'open' && mayWork(inc)
    ? button(t('btn.ack'), 'btn-primary btn-ack', (e) => {
      e.stopPropagation();
      // acknowledged: the incident is what the operator works next, so it opens
      act(key, e.currentTarget, () => command(inc.id, 'ack', {})).then((ok) => { if (ok) open(); });
    }, { dataset: { action: 'ack' } })
    : null;
  const classes = ['board-row', 'incident-row', `sev-${inc.severity}`, `st-${inc.status}`];
  if (inc.status === 'open') classes.push('flash');
  if (inc.drill) classes.push('is-drill');
  return h('div', {
    class: classes.join(' '), role: 'row', tabindex: '0',
    dataset: { id: inc.id, status: inc.status },
    on: {
      click: open,
      keydown: (e) => { if (e.key === 'Enter') open(); },
    },
  },
  h('span', { class: 'sev-bar', 'aria-hidden': 'true' }),
  h('span', { class: 'cell-name' },
    h('span', { class: 'inc-name' }, tx(inc.name)),
    h('span', { class: 'inc-sub' },
      h('span', { class: 'inc-id mono' }, inc.id), sevBadge(inc.severity),
      inc.drill ? badge(t('drill'), 'badge-drill') : null,
      inc.returned_to_normal ? badge(inc.status === 'open' ? t('rtn.unacked') : t('rtn.acked'),
        inc.status === 'open' ? 'badge-rtn' : 'badge-quiet') : null)),
  h('span', { class: 'cell-place' }, places(inc)),
  h('span', { class: 'cell-status' }, statusBadge(inc.status),
    inc.open_prompts ? h('span', { class: 'prompt-count' }, t(inc.open_prompts === 1 ? 'prompts.waiting.one' : 'prompts.waiting', { n: inc.open_prompts })) : null),
  h('span', { class: 'cell-stage' }, tx(inc.stage_name) || inc.stage),
  h('span', { class: 'cell-age' }, ageEl(inc.opened_at)),
  h('span', { class: 'cell-due' }, dueCell(inc)),
  h('span', { class: 'cell-actions' }, quick, quick ? errBox(key) : null));
}

export async function command(id, verb, body) {
  const result = await api('POST', incidentPath(id, verb), body);
  if (state.detailId === id) scheduleDetail(0);
  return result;
}
