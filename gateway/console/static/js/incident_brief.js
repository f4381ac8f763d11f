// The top of an incident, all on the first screen (1366×768): which devices, what is overdue,
// the playbook's next step (the page's primary button), the prompts waiting, and how the
// auto-actions stand. The cards below hold the same work in full.

import { t, tx } from './texts.js';
import { badge, button, h } from './dom.js';
import { dueEl, fmtWhen, now } from './clock.js';
import { place, roleName } from './state.js';

const waitingPrompt = (p) => p.status === 'open' || p.status === 'awaiting_second';

/** The first clause of a procedure text, enough to name it in the strip ("拨打 119"). */
export function clause(text, limit = 36) {
  const cut = text.search(/[：:？?。；;]/);
  const head = cut > 0 ? text.slice(0, cut) : text;
  return head.length > limit ? `${head.slice(0, limit - 1)}…` : head;
}

/** Scroll to an element of the cards below and put the cursor in its first input. */
function goTo(selector) {
  const el = document.querySelector(selector);
  if (!el) return;
  el.scrollIntoView({ block: 'center', behavior: 'smooth' });
  el.classList.add('just-updated');
  const input = el.querySelector('input, textarea, button');
  if (input) input.focus({ preventScroll: true });
}

function box(cls, title, count, ...body) {
  return h('div', { class: `brief-box ${cls}` },
    h('h2', { class: 'brief-title' }, title, count == null ? null : h('span', { class: 'brief-count' }, ` · ${count}`)),
    ...body);
}

/** Every device in alarm with its place and time, the newest first. */
export function devicesBox(d) {
  const devices = [...(d.incident.devices || [])].sort((a, b) => (b.last_at || 0) - (a.last_at || 0));
  if (!devices.length) return null;
  const names = d.device_names || {};
  return box('card-devices', t('inc.devices'), devices.length,
    h('ul', { class: 'devices' }, devices.slice(0, 200).map((dev) => {
      const code = dev.device ? `${dev.point_id}/${dev.device}` : dev.point_id;
      const name = names[dev.point_id];
      return h('li', { class: `device state-${dev.state}`, dataset: { point: dev.point_id } },
        h('span', { class: 'device-name' }, name ? tx(name) : code,
          name ? h('span', { class: 'mono muted small' }, ` ${code}`) : null),
        badge(t(`state.${dev.state}`), `state-badge state-${dev.state}`),
        h('span', { class: 'muted small' }, fmtWhen(dev.last_at)),
        h('span', { class: 'device-place muted small' }, place(dev.location)));
    })));
}

/** Overdue work first; else the next step due. Its button is the page's primary one. */
export function nextBox(d, n, workable) {
  const inc = d.incident;
  const at = now();
  const open = (inc.steps || []).filter((s) => s.status !== 'done');
  const overdue = open.filter((s) => s.status === 'overdue' || (s.due_at && s.due_at < at))
    .sort((a, b) => a.due_at - b.due_at);
  const next = overdue[0] || [...open].sort((a, b) => (a.due_at || Infinity) - (b.due_at || Infinity))[0];
  if (!next) {
    return box('brief-next', t('brief.next'), null, h('p', { class: 'muted' }, t('brief.nonext')));
  }
  return box(`brief-next ${overdue.length ? 'brief-overdue' : ''}`,
    overdue.length ? t('brief.overdue', { n: overdue.length }) : t('brief.next'), null,
    h('p', { class: 'brief-step', dataset: { step: next.id } }, n.step(next.id)),
    h('p', { class: 'muted small' }, roleName(next.role), ' · ',
      next.due_at ? dueEl(next.due_at, overdue.length ? 'overdue' : '') : t('step.nodeadline')),
    overdue.length > 1 ? h('ul', { class: 'brief-more plain-list small' },
      overdue.slice(1, 4).map((s) => h('li', {}, n.step(s.id), ' ', dueEl(s.due_at, 'overdue')))) : null,
    workable ? button(`${t('brief.go')} ↓`, 'btn-primary', () => goTo(`.step[data-step="${next.id}"]`),
      { dataset: { next: next.id } }) : null);
}

export function promptsBox(d, n) {
  const waiting = (d.incident.prompts || []).filter(waitingPrompt);
  return box(`brief-prompts ${waiting.length ? 'brief-waiting' : ''}`, t('sec.prompts'), waiting.length,
    waiting.length ? h('ul', { class: 'plain-list' }, waiting.map((p) => h('li', {},
      h('a', { href: '#', on: { click: (e) => { e.preventDefault(); goTo(`.prompt[data-prompt="${p.id}"]`); } } },
        clause(n.prompt(p.id))),
      p.due_at ? [' ', dueEl(p.due_at)] : null)))
      : h('p', { class: 'muted' }, t('brief.noprompts')));
}

export function actionsBox(d, n) {
  const actions = d.incident.actions || [];
  if (!actions.length) return null;
  return box('brief-actions', t('sec.actions'), actions.length,
    h('ul', { class: 'plain-list' }, actions.map((a) => {
      const status = a.status === 'sent' && !a.feedback_point ? t('action.sentonly') : t(`action.status.${a.status}`);
      return h('li', { class: `brief-action action-${a.status}`, dataset: { action: a.id, status: a.status } },
        h('span', {}, n.action(a.action), ' · ', n.actuator(a.actuator_id), ' '),
        badge(status, `action-badge action-badge-${a.status}`),
        a.status === 'sent' && a.feedback_due ? [' ', dueEl(a.feedback_due)] : null);
    })));
}

export function briefStrip(d, n, workable) {
  return h('section', { class: 'incident-brief' },
    devicesBox(d), nextBox(d, n, workable), promptsBox(d, n), actionsBox(d, n));
}
