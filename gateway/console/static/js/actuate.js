// Commanding an actuator by hand from the actuators table: a button per command for whoever
// may, an inline confirmation that names the actuator and the command and asks why, then the
// row follows the command live (its state, its feedback point) from the event stream.

import { t, tx } from './texts.js';
import { button, h } from './dom.js';
import { now } from './clock.js';
import { errors, hasRole, may, place, state } from './state.js';
import { act, api, clearDrafts, draftValue, errBox, field, paintErrors } from './api.js';

/** The command asked about, waiting for its confirmation: {actuator, command}, or null. */
export const asking = { actuator: null, command: null };

const drillOn = () => Boolean(state.drillUntil && state.drillUntil > now());

/** Whether this user may command by hand now: a tester only in the drill window, as a drill's. */
export const mayActuate = () => may('actuate') || (hasRole('tester') && drillOn());

/** The commands cell of an actuator's row: its commands, as buttons for those who may, and
 * the confirmation of the one asked about. ``repaint`` draws the table again, ``reload``
 * loads it afresh (after a command is given). */
export function commandCell(a, commandName, repaint, reload) {
  const commands = Object.keys(a.commands || {});
  if (!mayActuate()) {
    return commands.map((c) => h('span', { class: 'chip', dataset: { command: c } }, commandName(c)));
  }
  const open = asking.actuator === a.id ? asking.command : null;
  return [
    h('div', { class: 'act-buttons' }, commands.map((c) => button(commandName(c),
      `btn-small ${open === c ? 'btn-warn' : 'btn-ghost'}`, () => {
        asking.actuator = a.id;
        asking.command = c;
        repaint();
        const input = document.querySelector(`[data-key="${CSS.escape(reasonKey(a.id, c))}"]`);
        if (input) input.focus();
      }, { dataset: { command: c, action: 'actuate' }, title: t('act.do', { command: commandName(c) }) }))),
    open ? confirmPanel(a, open, commandName, repaint, reload) : null,
  ];
}

const reasonKey = (id, c) => `actuate:${id}:${c}:reason`;
const incidentKey = (id, c) => `actuate:${id}:${c}:incident`;

/** The live incidents a command may be done for (one of their actions): a tester's, drills. */
function incidentChoice(a, c) {
  const live = [...state.incidents.values()].filter((i) => may('actuate') || i.drill)
    .sort((x, y) => y.opened_at - x.opened_at);
  if (!live.length) return null;
  const select = field(incidentKey(a.id, c), { tag: 'select', class: 'input act-incident', 'aria-label': t('act.incident') });
  select.append(h('option', { value: '' }, t('act.incident.none')),
    ...live.map((i) => h('option', { value: i.id }, `${i.id} ${tx(i.name)} · ${place(i.location)}${i.drill ? ` (${t('drill')})` : ''}`)));
  return h('label', { class: 'act-for small' }, t('act.incident'), ' ', select);
}

function confirmPanel(a, c, commandName, repaint, reload) {
  const key = `actuate:${a.id}`;
  const drill = !may('actuate'); // a tester's: the write is withheld
  const reason = field(reasonKey(a.id, c), { type: 'text', class: 'input act-reason', maxlength: '4000',
    placeholder: t('act.reason'), 'aria-label': t('act.reason') }, '');
  const cancel = () => {
    asking.actuator = null;
    asking.command = null;
    errors.delete(key);
    repaint();
  };
  const send = async (btn) => {
    const why = draftValue(reasonKey(a.id, c));
    if (!why) {
      errors.set(key, t('act.needreason'));
      paintErrors(key);
      const input = document.querySelector(`[data-key="${CSS.escape(reasonKey(a.id, c))}"]`);
      if (input) input.focus();
      return;
    }
    const done = await act(key, btn, async () => {
      const incident = draftValue(incidentKey(a.id, c)) || '';
      await api('POST', `/api/actuators/${encodeURIComponent(a.id)}/actuate`, { command: c, reason: why, incident });
      return true;
    });
    if (done) {
      clearDrafts(reasonKey(a.id, c), incidentKey(a.id, c));
      cancel();
      reload();
    }
  };
  const feedback = (a.feedback || []).find((f) => f.command === c);
  return h('div', { class: 'act-confirm', role: 'alertdialog', 'aria-label': t('act.do', { command: commandName(c) }),
    dataset: { confirm: c } },
  h('p', {}, t(drill ? 'act.confirm.drill' : 'act.confirm', { device: tx(a.name), command: commandName(c) })),
  h('p', { class: 'muted small' }, feedback
    ? t('act.confirm.feedback', { point: feedback.name ? tx(feedback.name) : feedback.point })
    : t('act.confirm.nofeedback')),
  h('form', { class: 'act-form', novalidate: true, on: { submit: (e) => {
    e.preventDefault();
    send(e.currentTarget.querySelector('[data-action=actuate-send]'));
  } } },
    incidentChoice(a, c),
    reason,
    h('button', { type: 'submit', class: `btn btn-small ${drill ? 'btn-drill' : 'btn-warn'}`, dataset: { action: 'actuate-send' } },
      t('act.send', { command: commandName(c) })),
    button(t('btn.cancel'), 'btn-ghost btn-small', cancel, { dataset: { action: 'actuate-cancel' } })),
  errBox(key));
}
