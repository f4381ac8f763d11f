// Talking to the daemon's API, with each action's error shown beside it; form inputs that keep drafts.

import { t } from './texts.js';
import { add, button, h } from './dom.js';
import { setSkew } from './clock.js';
import { drafts, errors } from './state.js';
import { sessionEnded } from './session.js';
import { refusalText } from './refusals.js';

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code || '';
  }
}

export async function api(method, path, body) {
  const options = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET') {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body === undefined ? {} : body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(t('err.network'), 0);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401 && path !== '/api/login') {
    sessionEnded();
    throw new ApiError(data ? refusalText(data, 401) : t('err.session'), 401, data && data.code);
  }
  if (!response.ok) throw new ApiError(refusalText(data, response.status), response.status, data && data.code);
  if (data && typeof data.now === 'number') setSkew(data.now);
  return data;
}

export const incidentPath = (id, verb) => `/api/incidents/${encodeURIComponent(id)}${verb ? `/${verb.replace('_', '-')}` : ''}`;

/** Run an action: the button is busy meanwhile, an error stays shown beside it. */
export async function act(key, btn, fn) {
  errors.delete(key);
  paintErrors(key);
  const buttons = btn ? [btn] : [];
  for (const b of buttons) { b.disabled = true; b.classList.add('busy'); }
  try {
    const result = await fn();
    return result;
  } catch (err) {
    if (err.status !== 401) {
      errors.set(key, err.message || String(err));
      paintErrors(key);
    }
    return undefined;
  } finally {
    for (const b of buttons) { b.disabled = false; b.classList.remove('busy'); }
  }
}

/** The place where an action's error shows (rendered again with the error after a refresh). */
export function errBox(key) {
  const el = h('div', { class: 'err', role: 'alert', dataset: { errfor: key } });
  fillErr(el, key);
  return el;
}

export function fillErr(el, key) {
  const message = errors.get(key);
  el.replaceChildren();
  el.hidden = !message;
  if (message) {
    add(el, [h('span', { class: 'err-text' }, t('err.prefix'), message),
      button('×', 'btn-ghost btn-x', () => { errors.delete(key); paintErrors(key); },
        { title: t('btn.dismiss'), 'aria-label': t('btn.dismiss') })]);
  }
}

export function paintErrors(key) {
  for (const el of document.querySelectorAll('[data-errfor]')) {
    if (el.dataset.errfor === key) fillErr(el, key);
  }
}

// --------------------------------------------------------------------------- form inputs

/** An input whose value survives re-rendering while the operator types. */
export function field(key, props = {}, initial = '') {
  const tag = props.tag || 'input';
  const attrs = { ...props };
  delete attrs.tag;
  const el = h(tag, { ...attrs, dataset: { key, ...(attrs.dataset || {}) } });
  const value = drafts.has(key) ? drafts.get(key) : initial;
  if (tag === 'select') {
    // options are appended by the caller; value set after
    queueMicrotask(() => { el.value = value; });
  } else if (props.type === 'checkbox') {
    el.checked = drafts.has(key) ? drafts.get(key) === true : Boolean(initial);
  } else {
    el.value = value == null ? '' : String(value);
  }
  return el;
}

export function clearDrafts(...keys) {
  for (const key of keys) drafts.delete(key);
}

document.addEventListener('input', (e) => {
  const el = e.target;
  if (el && el.dataset && el.dataset.key) {
    drafts.set(el.dataset.key, el.type === 'checkbox' ? el.checked : el.value);
  }
});
document.addEventListener('change', (e) => {
  const el = e.target;
  if (el && el.dataset && el.dataset.key) {
    drafts.set(el.dataset.key, el.type === 'checkbox' ? el.checked : el.value);
  }
});

export function draftValue(key) {
  const v = drafts.get(key);
  return typeof v === 'string' ? v.trim() : v;
}

/** Replace a container's content keeping the focused input and its caret. */
export function rerender(container, build) {
  const active = document.activeElement;
  const key = active && active.dataset ? active.dataset.key : null;
  let selection = null;
  if (key && typeof active.selectionStart === 'number') {
    try { selection = [active.selectionStart, active.selectionEnd]; } catch { selection = null; }
  }
  const nodes = build();
  container.replaceChildren(...[nodes].flat(Infinity).filter((x) => x != null && x !== false));
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) {
      again.focus({ preventScroll: true });
      if (selection) {
        try { again.setSelectionRange(selection[0], selection[1]); } catch { /* not a text input */ }
      }
    }
  }
}
