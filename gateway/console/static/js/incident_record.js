// An incident's record: statement, calls, records, notes, devices, closing with its review, follow-ups, the timeline.

import { lang, pick, t, tx } from './texts.js';
import { add, badge, button, h } from './dom.js';
import { dueEl, fmtWhen, now, wallInput, withOffset } from './clock.js';
import { drafts, errors, gapsOf, may, mayClose, mayWork, roleName, state, who } from './state.js';
import { act, clearDrafts, draftValue, errBox, field, paintErrors } from './api.js';
import { command } from './board.js';
import { card, gapsNote, names, renderIncident } from './incident.js';
import { callBox } from './incident_work.js';
import { loadTasks } from './reports.js';

export function statementCard(d) {
  const pb = d.playbook;
  if (!pb) return null;
  return card(t('sec.statement'), 'card-statement',
    pb.statement ? h('blockquote', { class: 'statement' }, tx(pb.statement)) : h('p', { class: 'muted' }, t('stmt.none')));
}

export function callsCard(d) {
  const pb = d.playbook;
  if (!pb) return null;
  const inc = d.incident;
  const calls = Object.entries(pb.prompts || {}).filter(([, p]) => p.call);
  if (!calls.length) return null;
  return card(t('sec.calls'), 'card-calls', calls.map(([pid, p]) => {
    const st = (inc.prompts || []).find((x) => x.id === pid);
    const done = st && st.status === 'answered' && st.answer === 'yes';
    const waiting = st && (st.status === 'open' || st.status === 'awaiting_second');
    const facts = callBox(p.call, 'full');
    return h('div', { class: 'call-item', dataset: { call: pid } },
      h('div', { class: 'call-line' },
        badge(done ? t('call.status.done') : t('call.status.open'), done ? 'badge-ok' : 'badge-alarm'),
        h('span', { class: 'call-name' }, pick(p.call, 'name')),
        h('span', { class: 'call-phone mono' }, p.call.phone || '')),
      // the facts are in the prompt while it waits; here they stay at hand for a call back
      waiting ? null : h('details', { class: 'call-details' }, h('summary', {}, t('call.facts')), facts));
  }));
}

export function recordsCard(d, workable) {
  const pb = d.playbook;
  if (!pb) return null;
  const inc = d.incident;
  const records = pb.records || [];
  const missing = records.filter((r) => r.required && r.value == null);
  const rows = records.map((r) => recordRow(inc, r, workable));
  return card(t('sec.records'), 'card-records',
    records.length ? null : h('p', { class: 'muted' }, t('record.none')),
    records.length ? h('p', { class: missing.length ? 'records-missing' : 'records-complete' },
      missing.length ? t('record.missing', { list: missing.map((r) => tx(r.label)).join('；') }) : t('record.complete')) : null,
    rows);
}

/** A stored time (ISO 8601 with its offset) as the input shows it, on the site's clock. */
function inputValue(stored) {
  const at = Date.parse(stored);
  return /[+-]\d\d:\d\d$|Z$/.test(stored) && !Number.isNaN(at) ? wallInput(at / 1000) : stored.replace(' ', 'T');
}

export function recordRow(inc, r, workable) {
  const key = `${inc.id}:record:${r.id}`;
  const inputKey = `${key}:value`;
  let input;
  const label = tx(r.label);
  const current = r.value == null ? '' : r.value;
  if (r.type === 'time') {
    input = field(inputKey, { type: 'datetime-local', step: '1', class: 'input', 'aria-label': label }, current ? inputValue(current) : '');
  } else if (r.type === 'number') {
    input = field(inputKey, { type: 'number', step: 'any', class: 'input', 'aria-label': label, inputmode: 'decimal' }, current);
  } else if (r.type === 'yes_no') {
    input = field(inputKey, { tag: 'select', class: 'input', 'aria-label': label }, current);
    add(input, [h('option', { value: '' }, t('yesno.choose')), h('option', { value: 'yes' }, t('btn.yes')), h('option', { value: 'no' }, t('btn.no'))]);
  } else {
    input = field(inputKey, { tag: 'textarea', rows: '2', class: 'input', 'aria-label': label, maxlength: 4000 }, current);
  }
  input.disabled = !workable;
  const save = button(t('btn.save'), 'btn-primary', async (e) => {
    const typed = String(input.value || '').trim();
    const value = r.type === 'time' ? withOffset(typed) : typed;
    if (!value) {
      errors.set(key, t('err.required'));
      paintErrors(key);
      input.focus();
      return;
    }
    const ok = await act(key, e.currentTarget, () => command(inc.id, 'record', { field: r.id, value }));
    if (ok) clearDrafts(inputKey);
  }, { dataset: { save: r.id }, disabled: !workable });
  const nowButton = r.type === 'time' && workable ? button(t('btn.now'), 'btn-ghost', () => {
    input.value = wallInput(now());
    drafts.set(inputKey, input.value);
  }, { dataset: { now: r.id } }) : null;
  return h('div', { class: `record ${r.value == null ? 'record-empty' : 'record-filled'}`, dataset: { record: r.id, type: r.type } },
    h('label', { class: 'record-label' }, label,
      r.required ? h('span', { class: 'req', title: t('record.required') }, ` * ${t('record.required')}`) : null),
    h('div', { class: 'record-input' }, input, nowButton, workable ? save : null),
    r.value != null ? h('p', { class: 'record-by muted small' }, t('record.by', { who: who(r.by), at: fmtWhen(r.at) })) : null,
    errBox(key));
}

export function notesCard(d) {
  const inc = d.incident;
  const key = `${inc.id}:note`;
  const textKey = `${key}:text`;
  const notes = d.events.filter((e) => e.kind === 'note').reverse();
  const canNote = may('note') && inc.status !== 'closed';
  return card(t('sec.notes'), 'card-notes',
    canNote ? h('div', { class: 'note-form' },
      field(textKey, { tag: 'textarea', rows: '2', class: 'input', placeholder: t('notes.placeholder'), 'aria-label': t('sec.notes'), maxlength: 4000 }),
      button(t('btn.addnote'), 'btn-primary', async (e) => {
        const text = draftValue(textKey) || '';
        if (!text) {
          errors.set(key, t('err.required'));
          paintErrors(key);
          return;
        }
        const ok = await act(key, e.currentTarget, () => command(inc.id, 'note', { text }));
        if (ok) { clearDrafts(textKey); renderIncident(); }
      }, { dataset: { action: 'note' } })) : null,
    errBox(key),
    notes.length ? h('ul', { class: 'notes' }, notes.map((e) => h('li', { class: 'note' },
      h('div', { class: 'note-meta muted small' }, `${fmtWhen(e.at)} · ${who(e.actor)}`),
      h('p', { class: 'note-text' }, e.data.text || '')))) : h('p', { class: 'muted' }, t('notes.none')));
}

// ---- close with review

export function closeCard(d) {
  const inc = d.incident;
  const pb = d.playbook || {};
  if (inc.status === 'closed') {
    const review = inc.review || {};
    return card(t('sec.close'), 'card-close closed',
      h('p', {}, t('close.closed', { who: who(inc.closed_by), at: fmtWhen(inc.closed_at) })),
      h('dl', { class: 'review' }, ['handling', 'analysis', 'improvement'].map((part) => h('div', {},
        h('dt', {}, t(`close.${part}`)), h('dd', {}, review[part] || '—')))));
  }
  if (!mayClose(inc)) return card(t('sec.close'), 'card-close', h('p', { class: 'muted' }, t('close.needsup')));
  if (inc.status === 'open') return card(t('sec.close'), 'card-close', h('p', { class: 'muted' }, t('close.needack')));
  const key = `${inc.id}:close`;
  const guide = pb.review || {};
  const missing = (pb.records || []).filter((r) => r.required && r.value == null);
  const gaps = gapsOf(inc, true);
  const undone = Object.keys(gaps).length > 0;
  const parts = ['handling', 'analysis', 'improvement'].map((part) => {
    const k = `${key}:${part}`;
    const help = guide[part] ? tx(guide[part]) : '';
    return h('label', { class: 'field review-field' },
      h('span', { class: 'field-label' }, t(`close.${part}`), h('span', { class: 'req' }, ' *')),
      help ? h('span', { class: 'field-help' }, help) : null,
      field(k, { tag: 'textarea', rows: '3', class: 'input', placeholder: help, maxlength: 4000, dataset: { review: part } }));
  });
  return card(t('sec.close'), 'card-close no-print-empty',
    missing.length ? h('p', { class: 'records-missing' }, t('record.missing', { list: missing.map((r) => tx(r.label)).join('；') })) : null,
    h('div', { class: 'review-grid' }, parts),
    undone ? h('label', { class: 'field review-field' }, gapsNote(gaps, names(d)),
      h('span', { class: 'field-label' }, t('gaps.reason'), h('span', { class: 'req' }, ' *')),
      field(`${key}:reason`, { tag: 'textarea', rows: '2', class: 'input', maxlength: 4000, dataset: { reason: 'close' } })) : null,
    h('div', { class: 'close-actions' },
      button(t('btn.close'), 'btn-primary btn-lg', async (e) => {
        const body = {};
        const fields = undone ? ['handling', 'analysis', 'improvement', 'reason'] : ['handling', 'analysis', 'improvement'];
        for (const part of fields) body[part] = draftValue(`${key}:${part}`) || '';
        const empty = Object.entries(body).filter(([, v]) => !v).map(([p]) => (p === 'reason' ? t('gaps.reason') : t(`close.${p}`)));
        if (empty.length) {
          errors.set(key, `${t('err.required')}: ${empty.join('、')}`);
          paintErrors(key);
          return;
        }
        const ok = await act(key, e.currentTarget, () => command(inc.id, 'close', body));
        if (ok) clearDrafts(`${key}:handling`, `${key}:analysis`, `${key}:improvement`, `${key}:reason`);
      }, { dataset: { action: 'close' } })),
    errBox(key));
}

export function followUpsCard(d) {
  const inc = d.incident;
  const tasks = inc.follow_ups || [];
  if (!tasks.length) return null;
  return card(t('sec.followups'), 'card-followups', h('ul', { class: 'plain-list' },
    tasks.map((task) => followUpItem(inc.id, task, mayWork(inc)))));
}

export function followUpItem(incidentId, task, workable) {
  const key = `${incidentId}:follow_up:${task.id}`;
  const noteKey = `${key}:note`;
  const text = lang === 'en' ? (task.text_en || (task.text && task.text.en)) : (task.text_zh || (task.text && task.text.zh));
  const done = task.status === 'done';
  return h('li', { class: `followup ${done ? 'followup-done' : ''}`, dataset: { task: task.id } },
    h('div', { class: 'followup-head' },
      h('span', { class: 'followup-text' }, text || task.id),
      h('span', { class: 'role-chip' }, roleName(task.role)),
      done ? badge(t('btn.done'), 'badge-ok') : dueEl(task.due_at)),
    done ? h('p', { class: 'muted small' }, t('followup.done', { who: who(task.done_by), at: fmtWhen(task.done_at), note: task.note || '' }))
      : workable ? h('div', { class: 'step-controls' },
        field(noteKey, { class: 'input', placeholder: t('followup.note'), 'aria-label': t('followup.note'), maxlength: 4000 }),
        button(t('btn.markdone'), 'btn-primary', async (e) => {
          const note = draftValue(noteKey) || '';
          if (!note) { errors.set(key, t('err.required')); paintErrors(key); return; }
          const ok = await act(key, e.currentTarget, () => command(incidentId, 'follow_up', { task: task.id, note }));
          if (ok) {
            clearDrafts(noteKey);
            if (state.route.name === 'reports') loadTasks();
          }
        }, { dataset: { followup: task.id } })) : null,
    errBox(key));
}

// ---- timeline

export const timelineAll = new Set();

export function timelineCard(d, n) {
  const inc = d.incident;
  const events = [...d.events].reverse();
  const limit = timelineAll.has(inc.id) ? events.length : 150;
  const shown = events.slice(0, limit);
  return card(`${t('sec.timeline')} · ${events.length}`, 'card-timeline',
    h('ol', { class: 'timeline' }, shown.map((e) => h('li', { class: `ev ev-${evTone(e)}`, dataset: { kind: e.kind } },
      h('time', { class: 'ev-time mono' }, fmtWhen(e.at)),
      h('span', { class: 'ev-text' }, evText(e)),
      e.actor ? h('span', { class: 'ev-actor' }, who(e.actor)) : null))),
    events.length > limit ? button(t('timeline.more', { n: events.length }), 'btn-ghost', () => {
      timelineAll.add(inc.id);
      renderIncident();
    }) : null);
}

export function evTone(e) {
  const k = e.kind;
  if (['deadline_missed', 'escalated', 'action_failed', 'prompt_timed_out', 'reopened'].includes(k)) return 'alert';
  if (k === 'incident_opened' || (k === 'signal' && e.data.state === 'alarm')) return 'alarm';
  if (['acknowledged', 'step_done', 'arrival', 'action_done', 'prompt_answered', 'resolved', 'closed', 'follow_up_done'].includes(k)) return 'ok';
  if (k === 'note' || k === 'record') return 'human';
  return 'info';
}

export const Z = () => lang !== 'en';

/** An event's line in the page's language, as the server rendered it (the page never reads
 * the engine's words). */
export function evText(e) {
  if (e.text) return Z() ? e.text.zh : e.text.en;
  return t('ev.unknown', { kind: e.kind });
}
