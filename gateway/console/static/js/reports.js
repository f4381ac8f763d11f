// Reports: KPIs, follow-up tasks, incidents.

import { lang, pick, t, tx } from './texts.js';
import { $, badge, button, h } from './dom.js';
import { fmtWhen, words } from './clock.js';
import { may, place, state, statusBadge } from './state.js';
import { act, api, errBox, incidentPath } from './api.js';
import { followUpItem } from './incident_record.js';

export const reports = { days: 7, kpi: null, tasks: null, allTasks: false, incidents: null };

export function renderReports(entering) {
  if (entering) {
    loadKpi();
    loadTasks();
    loadReportIncidents();
  }
  const view = $('#view');
  const periods = [7, 30, 90].map((n) => button(t('reports.days', { n }), `btn-seg ${reports.days === n ? 'active' : ''}`, () => {
    reports.days = n;
    reports.kpi = null;
    loadKpi();
    renderReports(false);
  }, { dataset: { days: String(n) }, 'aria-pressed': reports.days === n ? 'true' : 'false' }));
  const html = h('a', { class: 'btn btn-ghost', href: `/api/kpi?days=${reports.days}&format=html&lang=${lang}`, target: '_blank', rel: 'noopener', dataset: { kpiHtml: '1' } }, t('reports.html'));
  view.replaceChildren(
    h('div', { class: 'view-head' },
      h('div', {}, h('h1', {}, t('reports.title'))),
      h('div', { class: 'view-head-meta no-print' }, button(t('btn.print'), 'btn-ghost', () => window.print()))),
    h('section', { class: 'card kpi-card' },
      h('div', { class: 'card-title-row' }, h('h2', { class: 'card-title' }, t('reports.kpi')),
        h('div', { class: 'seg no-print' }, periods), h('span', { class: 'no-print' }, html)),
      errBox('kpi'),
      kpiBody()),
    h('section', { class: 'card tasks-card' },
      h('div', { class: 'card-title-row' }, h('h2', { class: 'card-title' }, t('reports.tasks')),
        h('label', { class: 'check no-print' }, (() => {
          const box = h('input', { type: 'checkbox', checked: reports.allTasks });
          box.addEventListener('change', () => { reports.allTasks = box.checked; loadTasks(); });
          return box;
        })(), h('span', {}, t('reports.tasks.all')))),
      errBox('tasks'),
      tasksBody()),
    h('section', { class: 'card' },
      h('h2', { class: 'card-title' }, t('reports.incidentlist')),
      errBox('incidents'),
      incidentsBody()));
}

export async function loadKpi() {
  const days = reports.days;
  const data = await act('kpi', null, () => api('GET', `/api/kpi?days=${days}&format=json`));
  if (data && days === reports.days) {
    reports.kpi = data;
    if (state.route.name === 'reports') renderReports(false);
  }
}

export async function loadTasks() {
  const data = await act('tasks', null, () => api('GET', `/api/tasks${reports.allTasks ? '?all=true' : ''}`));
  if (data) {
    reports.tasks = data.tasks;
    if (state.route.name === 'reports') renderReports(false);
  }
}

export async function loadReportIncidents() {
  const data = await act('incidents', null, () => api('GET', '/api/incidents?status=all&limit=50'));
  if (data) {
    reports.incidents = data.incidents;
    if (state.route.name === 'reports') renderReports(false);
  }
}

export function kpiBody() {
  const k = reports.kpi;
  if (!k) return h('p', { class: 'muted' }, t('inc.loading'));
  const tile = (label, value, cls = '') => h('div', { class: `tile ${cls}`.trim() }, h('span', { class: 'tile-value' }, String(value)), h('span', { class: 'tile-label' }, label));
  const pct = (x) => (x == null ? '—' : `${Math.round(x * 100)}%`);
  const table = (heads, rows) => (rows.length ? h('table', { class: 'table' },
    h('thead', {}, h('tr', {}, heads.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))) : h('p', { class: 'muted' }, t('reports.nodata')));
  const ack = k.time_to_ack || {};
  return h('div', { class: 'kpi' },
    h('p', { class: 'muted small' }, t('reports.period', { from: fmtWhen(k.since), to: fmtWhen(k.until) })),
    h('div', { class: 'tiles' },
      tile(t('reports.incidents'), k.incidents),
      tile(t('reports.false'), k.false_alarms, k.false_alarms ? 'tile-warn' : ''),
      tile(t('reports.missed'), k.missed_deadlines ? k.missed_deadlines.total : 0, k.missed_deadlines && k.missed_deadlines.total ? 'tile-alarm' : ''),
      tile(t('reports.openend'), (k.open_at_end || []).length),
      tile(t('reports.drills'), k.drills ? k.drills.count : 0),
      tile(`${t('reports.ack')} · ${t('reports.median')}`, words(ack.median))),
    h('div', { class: 'kpi-grid' },
      h('div', {}, h('h3', {}, t('reports.bytype')),
        table([t('reports.type'), t('reports.total'), t('reports.real'), t('reports.minor'), t('reports.false'), t('reports.undecided')],
          (k.by_type || []).map((r) => [pick(r, 'name') || r.type, r.total, r.real, r.minor, r.false_alarm, r.undecided]))),
      h('div', {}, h('h3', {}, t('reports.ack')),
        table([t('reports.count'), t('reports.median'), t('reports.p90'), t('reports.max'), t('reports.unacked')],
          [[ack.count || 0, words(ack.median), words(ack.p90), words(ack.max), ack.unacknowledged || 0]])),
      h('div', {}, h('h3', {}, t('reports.arrivals')),
        table([t('reports.role'), t('reports.count'), t('reports.median'), t('reports.p90'), t('reports.ontime')],
          (k.arrivals || []).map((a) => [pick(a, 'name') || a.role, a.count, words(a.median), words(a.p90), pct(a.on_time_share)]))),
      h('div', {}, h('h3', {}, t('reports.devices')),
        table([t('reports.device'), t('col.place'), t('reports.total'), t('reports.false'), t('reports.rate'), t('reports.maint')],
          (k.devices || []).filter((x) => x.false_alarms > 0 || x.maintenance).slice(0, 20)
            .map((x) => [x.device, x.location, x.incidents, x.false_alarms, pct(x.rate), x.maintenance ? t('reports.yes') : ''])))));
}

export function tasksBody() {
  const tasks = reports.tasks;
  if (!tasks) return h('p', { class: 'muted' }, t('inc.loading'));
  if (!tasks.length) return h('p', { class: 'muted' }, t('reports.tasks.none'));
  return h('ul', { class: 'plain-list tasks' }, tasks.map((task) => h('li', { class: 'task-row' },
    h('a', { class: 'mono task-inc', href: `#/incident/${encodeURIComponent(task.incident_id)}` }, task.incident_id),
    followUpItem(task.incident_id, task, may('work')))));
}

export function incidentsBody() {
  const list = reports.incidents;
  if (!list) return h('p', { class: 'muted' }, t('inc.loading'));
  if (!list.length) return h('p', { class: 'muted' }, t('reports.incidentlist.none'));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
    h('thead', {}, h('tr', {}, [t('col.incident'), t('reports.type'), t('col.place'), t('col.status'), t('inc.opened'), t('inc.report')].map((x) => h('th', {}, x)))),
    h('tbody', {}, list.map((inc) => h('tr', { class: `sev-${inc.severity}` },
      h('td', {}, h('a', { class: 'mono', href: `#/incident/${encodeURIComponent(inc.id)}` }, inc.id)),
      h('td', {}, tx(inc.name), inc.drill ? badge(t('drill'), 'badge-drill') : null),
      h('td', {}, place(inc.location)),
      h('td', {}, statusBadge(inc.status)),
      h('td', {}, fmtWhen(inc.opened_at)),
      h('td', { class: 'links' },
        h('a', { href: `${incidentPath(inc.id, 'report')}?lang=zh&format=html`, target: '_blank', rel: 'noopener' }, '中文'),
        ' · ',
        h('a', { href: `${incidentPath(inc.id, 'report')}?lang=en&format=html`, target: '_blank', rel: 'noopener' }, 'English')))))));
}
