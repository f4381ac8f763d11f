// An incident's work: prompts, branches, steps and auto-actions.

import { lang, pick, t, tx } from './texts.js';
import { badge, button, h } from './dom.js';
import { dueEl, fmtWhen, tick, words } from './clock.js';
import { roleName, state, who } from './state.js';
import { act, clearDrafts, draftValue, errBox, field } from './api.js';
import { command } from './board.js';
import { card } from './incident.js';

export function promptsCard(d, n, workable) {
  const inc = d.incident;
  const pb = d.playbook || {};
  const prompts = inc.prompts || [];
  if (!prompts.length) return null;
  const waiting = prompts.filter((p) => p.status === 'open' || p.status === 'awaiting_second');
  const settled = prompts.filter((p) => !(p.status === 'open' || p.status === 'awaiting_second'));
  const cards = waiting.map((p) => promptBox(inc, p, (pb.prompts || {})[p.id], workable));
  return card(t('sec.prompts'), 'card-prompts',
    cards.length ? cards : null,
    settled.length ? h('div', { class: 'settled' },
      h('h3', {}, t('sec.prompts.done')),
      h('ul', { class: 'plain-list' }, settled.map((p) => {
        const def = (pb.prompts || {})[p.id];
        return h('li', { class: 'settled-prompt', dataset: { prompt: p.id, status: p.status } },
          h('span', { class: 'settled-text' }, def ? tx(def.text) : p.id),
          h('span', { class: `answer answer-${p.answer || 'none'}` }, settledText(p)));
      }))) : null);
}

export function settledText(p) {
  if (p.status === 'acted_on_timeout') return t('prompt.acted');
  const a = p.answer === 'yes' ? t('btn.yes') : t('btn.no');
  if (p.confirmed_by) return t('prompt.answered2', { a, who: who(p.answered_by), second: who(p.confirmed_by), at: fmtWhen(p.answered_at) });
  return t('prompt.answered', { a, who: who(p.answered_by), at: fmtWhen(p.answered_at) });
}

export function promptBox(inc, p, def, workable) {
  const id = inc.id;
  const key = `${id}:answer:${p.id}`;
  const noteKey = `${key}:note`;
  const policy = def && def.on_timeout ? t(`prompt.policy.${def.on_timeout}`) : '';
  const second = p.status === 'awaiting_second';
  const mine = second && state.me && p.answered_by === state.me.name;
  const answer = (value) => async (e) => {
    const note = draftValue(noteKey) || '';
    const ok = await act(key, e.currentTarget, () => command(id, 'answer', { prompt: p.id, answer: value, note }));
    if (ok) clearDrafts(noteKey);
  };
  const call = def && def.call;
  return h('div', { class: `prompt ${second ? 'prompt-second' : ''} ${p.timed_out ? 'prompt-timedout' : ''}`.trim(), dataset: { prompt: p.id, status: p.status } },
    h('p', { class: 'prompt-text' }, def ? tx(def.text) : p.id),
    h('div', { class: 'prompt-meta' },
      p.due_at ? dueEl(p.due_at, 'due-big') : null,
      def && def.timeout ? h('span', { class: 'muted' }, t('prompt.timeout', { t: words(def.timeout) })) : null,
      policy ? h('span', { class: `policy policy-${def.on_timeout}` }, policy) : null,
      def && def.second_confirmation ? badge(t('prompt.second'), 'badge-quiet') : null,
      p.timed_out ? badge(t('prompt.timedout'), 'badge-alarm') : null),
    call ? callBox(call, 'compact') : null,
    def && def.actions && def.actions.length ? h('p', { class: 'prompt-onyes' }, t('prompt.onyes'), ' ',
      def.actions.map(tx).join('、')) : null,
    second ? h('p', { class: 'prompt-wait' }, mine ? t('prompt.you_first')
      : t('prompt.waiting_second', { who: who(p.answered_by) })) : null,
    workable ? h('div', { class: 'prompt-buttons' },
      button(second ? t('btn.yes.second') : t('btn.yes'), 'btn-yes btn-huge', answer('yes'),
        { dataset: { answer: 'yes' }, disabled: mine }),
      button(t('btn.no'), 'btn-no btn-huge', answer('no'), { dataset: { answer: 'no' } }),
      field(noteKey, { class: 'input prompt-note', placeholder: t('step.note'), 'aria-label': t('step.note'), maxlength: 4000 })) : null,
    errBox(key));
}

export function callBox(call, mode) {
  const facts = (call.facts || '').split(',').filter(Boolean);
  const me = state.me ? (state.me.display || state.me.name) : '';
  return h('div', { class: `call call-${mode}` },
    h('div', { class: 'call-head' },
      h('span', { class: 'call-label' }, t('call.dial')),
      h('span', { class: 'call-name' }, pick(call, 'name')),
      h('span', { class: 'call-phone mono' }, call.phone || '')),
    facts.length ? h('p', { class: 'muted small' }, t('call.read')) : null,
    facts.length ? h('dl', { class: 'call-facts' }, facts.map((f) => h('div', { class: 'call-fact', dataset: { fact: f } },
      h('dt', {}, t(`fact.${f}`)),
      h('dd', {}, f === 'caller' ? (pick(call, 'caller') || me) : (pick(call, f) || '—'))))) : null);
}

// ---- branches

export function branchesCard(d, n, workable) {
  const inc = d.incident;
  const pb = d.playbook || {};
  const branches = inc.branches || [];
  if (!branches.length) return null;
  return card(t('sec.branches'), 'card-branches', branches.map((b) => {
    const def = (pb.branches || {})[b.id];
    const key = `${inc.id}:decide:${b.id}`;
    const open = b.status === 'open';
    const options = def ? def.options : [];
    const chosen = options.find((o) => o.id === b.option);
    return h('div', { class: `branch ${open ? 'branch-open' : 'branch-decided'}`, dataset: { branch: b.id } },
      h('div', { class: 'branch-head' },
        h('p', { class: 'branch-q' }, def ? tx(def.question) : b.id),
        h('span', { class: 'role-chip' }, roleName(b.role)),
        open && b.due_at ? dueEl(b.due_at) : null),
      open ? h('div', { class: 'branch-options' }, options.map((o) => button(tx(o.label), 'btn-option',
        (e) => act(key, e.currentTarget, () => command(inc.id, 'decide', { branch: b.id, option: o.id })),
        { dataset: { option: o.id }, disabled: !workable }))) : h('p', { class: 'branch-result' },
        t('branch.decided', { label: chosen ? tx(chosen.label) : b.option, who: b.decided_by ? who(b.decided_by) : t('branch.bydevices') }),
        b.note ? h('span', { class: 'muted' }, ` · ${b.note}`) : null),
      errBox(key));
  }));
}

// ---- steps

export function stepsCard(d, n, workable) {
  const inc = d.incident;
  const pb = d.playbook || {};
  const steps = inc.steps || [];
  if (!steps.length) return null;
  const groups = new Map();
  for (const s of steps) {
    if (!groups.has(s.stage)) groups.set(s.stage, []);
    groups.get(s.stage).push(s);
  }
  const done = steps.filter((s) => s.status === 'done').length;
  return card(`${t('sec.steps')} · ${done}/${steps.length}`, 'card-steps', [...groups.entries()].map(([stage, list]) => h('div', { class: 'step-group' },
    h('h3', {}, n.stage(stage)),
    h('ol', { class: 'steps' }, list.map((s) => stepItem(inc, s, (pb.steps || {})[s.id], workable))))));
}

export function stepItem(inc, s, def, workable) {
  const id = inc.id;
  const key = `${id}:step:${s.id}`;
  const noteKey = `${key}:note`;
  const whoKey = `${key}:who`;
  const isDone = s.status === 'done';
  const arrival = def && def.arrival;
  let controls = null;
  if (!isDone && workable) {
    if (arrival) {
      const whoInput = field(whoKey, { class: 'input', placeholder: t('step.who'), 'aria-label': t('step.who'), maxlength: 100 });
      controls = h('div', { class: 'step-controls' }, whoInput,
        button(`✓ ${t('btn.arrived')}`, 'btn-primary', async (e) => {
          const ok = await act(key, e.currentTarget, () => command(id, 'arrive', { role: s.role, who: draftValue(whoKey) || '' }));
          if (ok) clearDrafts(whoKey);
        }, { dataset: { arrive: s.id } }));
    } else {
      const note = field(noteKey, { class: 'input', placeholder: t('step.note'), 'aria-label': t('step.note'), maxlength: 4000 });
      controls = h('div', { class: 'step-controls' }, note,
        button(`✓ ${t('btn.done')}`, 'btn-primary', async (e) => {
          const ok = await act(key, e.currentTarget, () => command(id, 'step', { step: s.id, note: draftValue(noteKey) || '' }));
          if (ok) clearDrafts(noteKey);
        }, { dataset: { tick: s.id } }));
    }
  }
  let when = null;
  if (isDone) {
    let note = s.note || '';
    if (note.startsWith('on scene: ') && lang === 'zh') note = `到场：${note.slice(10)}`;
    when = h('span', { class: 'step-when' }, t('step.done', { who: who(s.done_by), at: fmtWhen(s.done_at) }),
      note ? h('span', { class: 'step-note' }, ` — ${note}`) : null);
  } else if (s.due_at) {
    when = dueEl(s.due_at);
  } else {
    when = h('span', { class: 'muted small' }, t('step.nodeadline'));
  }
  return h('li', { class: `step step-${s.status}`, dataset: { step: s.id, status: s.status } },
    h('span', { class: 'step-check', 'aria-hidden': 'true' }, isDone ? '✓' : ''),
    h('div', { class: 'step-body' },
      h('p', { class: 'step-text' }, def ? tx(def.text) : s.id),
      h('div', { class: 'step-meta' },
        h('span', { class: 'role-chip' }, roleName(s.role)),
        // an on-scene step says so; "arrived" only once someone has
        arrival ? badge(isDone ? t('btn.arrived') : t('step.onscene'), 'badge-quiet') : null,
        s.status === 'overdue' ? badge(t('step.overdue'), 'badge-alarm') : null,
        when),
      controls,
      errBox(key)));
}

// ---- auto-actions

export function actionsCard(d, n) {
  const inc = d.incident;
  const actions = inc.actions || [];
  const skipped = d.events.filter((e) => e.kind === 'action_skipped');
  if (!actions.length && !skipped.length) return null;
  return card(t('sec.actions'), 'card-actions',
    h('ul', { class: 'actions' }, actions.map((a) => {
      const status = a.status === 'sent' && !a.feedback_point ? t('action.sentonly') : t(`action.status.${a.status}`);
      return h('li', { class: `action action-${a.status}`, dataset: { action: a.id, status: a.status } },
        h('div', { class: 'action-main' },
          h('span', { class: 'action-name' }, n.action(a.action)),
          h('span', { class: 'action-target' }, n.actuator(a.actuator_id))),
        h('div', { class: 'action-side' },
          badge(status, `action-badge action-badge-${a.status}`),
          a.status === 'sent' && a.feedback_due ? dueEl(a.feedback_due) : null,
          h('span', { class: 'muted small' }, fmtWhen(a.updated_at))),
        a.detail ? h('p', { class: 'action-detail' }, tx(a.detail_text) || a.detail) : null,
        a.prompt ? h('p', { class: 'muted small' }, t('action.fromprompt', { p: n.prompt(a.prompt) })) : null,
        a.by ? h('p', { class: 'muted small action-by' }, t('act.byhand', { who: who(a.by), reason: a.reason || '' })) : null);
    }), skipped.map((e) => h('li', { class: 'action action-skipped' },
      h('div', { class: 'action-main' }, h('span', { class: 'action-name' }, pick(e.data, 'name') || n.action(e.data.action))),
      h('p', { class: 'action-detail' }, tx(e.text))))));
}
