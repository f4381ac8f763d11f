// What the page knows: the session, incidents, drafts and errors; who may do what; names of places.

import { t, tx } from './texts.js';
import { badge } from './dom.js';
import { route } from './stream.js';
import { Z } from './incident_record.js';

export const state = {
  me: null, // {name, display, roles, may}
  site: null, // GET /api/site
  incidents: new Map(), // id → board summary
  drillUntil: 0,
  drill: null, // the window: until, buildings, points, by
  connected: false,
  detail: null, // GET /api/incidents/{id} of the incident on screen
  detailId: null,
  route: { name: 'board', arg: '' },
  loaded: false, // the board has been loaded since the stream (re)connected
};

export const drafts = new Map(); // input key → what the operator typed (kept across re-renders)
export const errors = new Map(); // action key → message shown beside it until retried or dismissed
export const ui = { open: new Map() }; // which inline forms are open, per incident: "id:verb" → true

export const may = (permission) => Boolean(state.me && state.me.may.includes(permission));
export const hasRole = (role) => Boolean(state.me && state.me.roles.includes(role));
export const mayWork = (inc) => may('work') || (inc.drill && hasRole('tester'));
export const mayClose = (inc) => may('close') || (inc.drill && hasRole('tester'));

// What of the playbook is left undone (as the server judges it): open decisions, and for a
// close its steps, prompts and auto-actions not finished. Resolving or closing with any of
// it asks for the reason, which goes on record.
export function gapsOf(inc, closing) {
  const out = {};
  const undecided = (inc.branches || []).filter((b) => b.status === 'open').map((b) => b.id);
  if (undecided.length) out.undecided = undecided;
  if (closing) {
    const steps = (inc.steps || []).filter((s) => s.status !== 'done').map((s) => s.id);
    const prompts = (inc.prompts || []).filter((p) => p.status === 'open' || p.status === 'awaiting_second').map((p) => p.id);
    const actions = (inc.actions || []).filter((a) => a.status === 'pending' || a.status === 'sent').map((a) => `${a.action}/${a.actuator_id}`);
    if (steps.length) out.open_steps = steps;
    if (prompts.length) out.unanswered_prompts = prompts;
    if (actions.length) out.unconfirmed_actions = actions;
  }
  return out;
}

export function roleName(role) {
  if (!role) return '';
  const known = state.site && state.site.roles[role];
  return known ? tx(known) : role;
}

/** A user by the name they go by (the site's list of people); anyone else as written. */
export function who(login) {
  if (!login) return '';
  const people = state.site && state.site.people;
  return (people && people[login]) || login;
}

export function place(loc) {
  if (!loc) return '';
  const parts = [];
  if (loc.building) parts.push(t('place.building', { v: loc.building }));
  if (loc.floor) parts.push(t('place.floor', { v: loc.floor }));
  const named = loc.zone && state.site && state.site.zones ? state.site.zones[loc.zone] : null;
  if (loc.zone) parts.push(named ? tx(named) : t('place.zone', { v: loc.zone }));
  if (loc.unit) parts.push(t('place.unit', { v: loc.unit }));
  return parts.length ? parts.join(' · ') : t('place.site');
}

/** Every place in alarm of an incident (a fire spreading over floors), or its own place. */
export function places(inc) {
  const list = inc.places && inc.places.length ? inc.places : [inc.location];
  return list.map(place).join(Z() ? '；' : '; ');
}

export function sevBadge(sev) {
  return badge(t(`sev.${sev}`), `sev sev-${sev}`);
}

export function statusBadge(status) {
  return badge(t(`status.${status}`), `status status-${status}`);
}
