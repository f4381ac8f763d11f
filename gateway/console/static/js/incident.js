// One incident's page: its header, stages and the cards it is made of.

import { lang, t, tx } from './texts.js';
import { $, badge, button, h } from './dom.js';
import { ageEl, dueCell, fmtWhen } from './clock.js';
import { errors, gapsOf, mayClose, mayWork, places, roleName, sevBadge, state, statusBadge, ui, who } from './state.js';
import { act, api, clearDrafts, errBox, field, incidentPath, paintErrors, rerender } from './api.js';
import { command } from './board.js';
import { actionsCard, branchesCard, promptsCard, stepsCard } from './incident_work.js';
import { briefStrip, clause } from './incident_brief.js';
import { callsCard, closeCard, followUpsCard, notesCard, recordsCard, statementCard, timelineCard } from './incident_record.js';

export let detailTimer = null;
export let detailBusy = false;
export let detailAgain = false;

export function scheduleDetail(delay = 120) {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(refreshDetail, delay);
}

export async function refreshDetail() {
  const id = state.detailId;
  if (!id) return;
  if (detailBusy) { detailAgain = true; return; }
  detailBusy = true;
  try {
    const data = await api('GET', incidentPath(id));
    if (state.detailId === id) {
      state.detail = data;
      renderIncident();
    }
  } catch (err) {
    if (state.detailId === id && err.status === 404) {
      state.detail = { missing: true, error: err.message };
      renderIncident();
    }
  } finally {
    detailBusy = false;
    if (detailAgain) { detailAgain = false; scheduleDetail(0); }
  }
}

export function renderIncidentRoute(entering) {
  const id = state.route.arg;
  if (entering || state.detailId !== id) {
    state.detailId = id;
    state.detail = null;
    $('#view').replaceChildren(h('p', { class: 'muted pad' }, t('inc.loading')));
    refreshDetail();
  } else {
    renderIncident();
  }
}

export function renderIncident() {
  const view = $('#view');
  const d = state.detail;
  if (!d) return;
  if (d.missing) {
    view.replaceChildren(h('div', { class: 'pad' }, button(t('btn.back'), 'btn-ghost', () => { location.hash = '#/board'; }),
      h('p', { class: 'err' }, t('inc.notfound'), ' ', d.error || '')));
    return;
  }
  rerender(view, () => incidentView(d));
}

export function names(d) {
  const pb = d.playbook || {};
  const actuators = {};
  for (const e of d.events) {
    if (e.kind === 'action_requested') actuators[e.data.actuator] = { zh: e.data.actuator_zh, en: e.data.actuator_en };
  }
  return {
    step: (id) => (pb.steps && pb.steps[id] ? tx(pb.steps[id].text) : id),
    prompt: (id) => (pb.prompts && pb.prompts[id] ? tx(pb.prompts[id].text) : id),
    branch: (id) => (pb.branches && pb.branches[id] ? tx(pb.branches[id].question) : id),
    stage: (id) => {
      const s = (pb.stages || []).find((x) => x.id === id);
      return s ? tx(s.name) : id;
    },
    option: (branch, option) => {
      const def = pb.branches && pb.branches[branch];
      const o = def ? def.options.find((x) => x.id === option) : null;
      return o ? tx(o.label) : option;
    },
    action: (id) => (pb.actions && pb.actions[id] ? tx(pb.actions[id]) : id),
    actuator: (id) => (actuators[id] ? tx(actuators[id]) : id),
    record: (id) => {
      const r = (pb.records || []).find((x) => x.id === id);
      return r ? tx(r.label) : id;
    },
  };
}

export function incidentView(d) {
  const inc = d.incident;
  const n = names(d);
  const live = inc.status === 'open' || inc.status === 'acknowledged';
  const workable = inc.status !== 'closed' && mayWork(inc);
  const left = [
    promptsCard(d, n, workable),
    branchesCard(d, n, workable && live),
    stepsCard(d, n, workable),
    actionsCard(d, n),
  ];
  const right = [
    statementCard(d),
    callsCard(d),
    recordsCard(d, workable),
    notesCard(d),
  ];
  return [
    incidentHeader(d, n),
    briefStrip(d, n, workable),  // what matters, on the first screen
    h('div', { class: 'incident-grid' },
      h('div', { class: 'col-main' }, left),
      h('div', { class: 'col-side' }, right)),
    closeCard(d),
    followUpsCard(d),
    timelineCard(d, n),
  ];
}

export function incidentHeader(d, n) {
  const inc = d.incident;
  const id = inc.id;
  const live = inc.status === 'open' || inc.status === 'acknowledged';
  const buttons = [];
  const forms = [];
  if (inc.status === 'open' && mayWork(inc)) {
    buttons.push(button(t('btn.ack'), 'btn-primary btn-lg', (e) => act(`${id}:ack`, e.currentTarget,
      () => command(id, 'ack', {})), { dataset: { action: 'ack' } }));
  }
  // the verification is asked once, in its decision card at the top, not here as well
  // resolve is the green button only once the playbook's work is done: until then the primary
  // button is the next step's (in the strip below the header); with its decisions still open,
  // resolving asks for the reason
  const resolveGaps = gapsOf(inc, false);
  const early = Object.keys(resolveGaps).length > 0;
  const workLeft = Object.keys(gapsOf(inc, true)).length > 0;
  if (inc.status === 'acknowledged' && mayWork(inc)) buttons.push(toggleButton(id, 'resolve', t('btn.resolve'), workLeft ? 'btn-ghost btn-lg' : 'btn-ok btn-lg'));
  if ((inc.status === 'resolved' || inc.status === 'closed') && mayClose(inc)) {
    buttons.push(toggleButton(id, 'reopen', t('btn.reopen'), 'btn-ghost btn-lg'));
  }
  if (inc.status !== 'closed' && mayClose(inc)) buttons.push(toggleButton(id, 'assign', t('btn.assign'), 'btn-ghost btn-lg'));

  const inline = [
    ['reject', 'note', t('reject.cause'), true, 'btn-danger'],
    ['resolve', 'note', t('resolve.note'), false, 'btn-ok'],
    ['reopen', 'reason', t('reopen.reason'), true, 'btn-primary'],
    ['assign', 'commander', t('assign.name'), true, 'btn-primary'],
  ];
  for (const [verb, name, label, required, cls] of inline) {
    if (!ui.open.get(`${id}:${verb}`)) continue;
    if (!buttons.some((b) => b.dataset.toggle === verb)) continue;
    const key = `${id}:${verb}:${name}`;
    const input = field(key, { class: 'input', placeholder: label, 'aria-label': label, maxlength: verb === 'assign' ? 100 : 4000 });
    // resolving with decisions open: the reason, required, on record
    const reasonKey = `${id}:${verb}:reason`;
    const reason = verb === 'resolve' && early
      ? field(reasonKey, { class: 'input', placeholder: t('gaps.reason'), 'aria-label': t('gaps.reason'), maxlength: 4000, dataset: { reason: verb } })
      : null;
    const submit = button(t('btn.submit'), cls, async (e) => {
      const value = (input.value || '').trim();
      const why = reason ? (reason.value || '').trim() : '';
      if ((required && !value) || (reason && !why)) {
        errors.set(`${id}:${verb}`, t('err.required'));
        paintErrors(`${id}:${verb}`);
        (reason && !why ? reason : input).focus();
        return;
      }
      const body = { [name]: value };
      if (why) body.reason = why;
      const ok = await act(`${id}:${verb}`, e.currentTarget, () => command(id, verb, body));
      if (ok) { clearDrafts(key, reasonKey); ui.open.delete(`${id}:${verb}`); renderIncident(); }
    }, { dataset: { submit: verb } });
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); submit.click(); } });
    forms.push(h('div', { class: 'inline-form', dataset: { form: verb } },
      h('label', { class: 'inline-label' }, label), input,
      reason ? gapsNote(resolveGaps, n) : null, reason, submit,
      button(t('btn.cancel'), 'btn-ghost', () => { ui.open.delete(`${id}:${verb}`); renderIncident(); })));
  }

  const report = (which) => h('a', {
    class: 'btn btn-ghost btn-lg report-link', href: `${incidentPath(id, 'report')}?lang=${which}&format=html`,
    target: '_blank', rel: 'noopener', dataset: { report: which },
  }, t(`inc.report.${which}`));

  const facts = [
    [t('inc.opened'), `${fmtWhen(inc.opened_at)}${inc.opened_by ? ` · ${t('inc.openedby')}: ${who(inc.opened_by)}` : ''}`],
    [t('inc.age'), ageEl(inc.opened_at)],
    [inc.overdue_since ? t('inc.overdue') : t('inc.next'), dueCell(inc)],
    [t('inc.commander'), roleName(inc.commander) || '—'],
  ];
  // an incident opened by hand: who phoned it in and what they said, at the top
  const opened = d.events.find((e) => e.kind === 'incident_opened');
  if (opened && opened.data.reporter) facts.push([t('inc.reporter'), opened.data.reporter]);
  if (opened && opened.data.note) facts.push([t('inc.opennote'), opened.data.note]);
  if (inc.acknowledged_at) facts.push([t('inc.acked'), `${who(inc.acknowledged_by)} · ${fmtWhen(inc.acknowledged_at)}`]);
  if (inc.resolved_at) facts.push([t('inc.resolved'), `${who(inc.resolved_by)} · ${fmtWhen(inc.resolved_at)}`]);
  if (inc.closed_at) facts.push([t('inc.closedby'), `${who(inc.closed_by)} · ${fmtWhen(inc.closed_at)}`]);

  const verbs = ['ack', 'confirm', 'reject', 'resolve', 'reopen', 'assign'];
  const cls = ['card', 'incident-head', `sev-${inc.severity}`, `st-${inc.status}`];
  if (inc.status === 'open') cls.push('flash');
  return h('section', { class: cls.join(' '), dataset: { status: inc.status, id } },
    h('div', { class: 'head-top' },
      button(t('btn.back'), 'btn-ghost btn-small no-print', () => { location.hash = '#/board'; }),
      h('span', { class: 'inc-id mono' }, id)),
    h('div', { class: 'head-title' },
      h('h1', {}, tx(inc.name)),
      sevBadge(inc.severity), h('span', { class: 'head-status' }, statusBadge(inc.status)),
      inc.drill ? badge(t('drill'), 'badge-drill') : null,
      inc.verdict ? badge(t(`verdict.${inc.verdict}`), `badge-verdict verdict-${inc.verdict}`) : null,
      inc.returned_to_normal ? badge(inc.status === 'open' ? t('rtn.unacked') : t('rtn.acked'),
        inc.status === 'open' ? 'badge-rtn' : 'badge-quiet') : null),
    h('div', { class: 'head-place' },
      h('span', { class: 'place-text' }, places(inc)),
      h('span', { class: 'stage-chip' }, tx(inc.stage_name) || inc.stage)),
    stagePath(d),
    h('dl', { class: 'facts' }, facts.map(([k, v]) => h('div', { class: 'fact' }, h('dt', {}, k), h('dd', {}, v)))),
    h('div', { class: 'head-actions no-print' }, buttons, report('zh'), report('en')),
    forms.length ? h('div', { class: 'head-forms no-print' }, forms) : null,
    verbs.map((v) => errBox(`${id}:${v}`)),
    !mayWork(inc) && inc.status !== 'closed' ? h('p', { class: 'muted small' }, t('inc.readonly')) : null);
}

/** What of the playbook is left undone, each by its name. */
export function gapsNote(gaps, n) {
  const named = {
    undecided: n.branch,
    open_steps: (id) => clause(n.step(id)),
    unanswered_prompts: (id) => clause(n.prompt(id)),
    unconfirmed_actions: (key) => {
      const [action, actuator] = key.split('/');
      return `${n.action(action)}（${n.actuator(actuator)}）`;
    },
  };
  return h('p', { class: 'gaps-note', dataset: { gaps: Object.keys(gaps).join(' ') } }, t('gaps.title'), ' ',
    Object.entries(gaps).map(([kind, ids]) => `${t(`gaps.${kind}`)}：${ids.map(named[kind] || String).join('、')}`).join('；'));
}

export function stagePath(d) {
  const pb = d.playbook;
  if (!pb) return null;
  const inc = d.incident;
  const entered = inc.entered || [];
  return h('ol', { class: 'stage-path' }, entered.map((id, i) => {
    const s = pb.stages.find((x) => x.id === id);
    return h('li', { class: i === entered.length - 1 ? 'current' : '' }, s ? tx(s.name) : id);
  }));
}

export function toggleButton(id, verb, label, cls) {
  const key = `${id}:${verb}`;
  const el = button(label, cls, () => {
    if (ui.open.get(key)) ui.open.delete(key); else ui.open.set(key, true);
    renderIncident();
    const input = document.querySelector(`[data-form="${verb}"] input`);
    if (input) input.focus();
  }, { dataset: { action: verb, toggle: verb }, 'aria-expanded': ui.open.get(key) ? 'true' : 'false' });
  return el;
}

export function card(title, cls, ...body) {
  return h('section', { class: `card ${cls || ''}`.trim() }, h('h2', { class: 'card-title' }, title), body);
}
