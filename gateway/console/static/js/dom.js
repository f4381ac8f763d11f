// Building the page: elements with text nodes only (never HTML from data), buttons, badges.

import { extra } from './equipment.js';

/** Build an element. Children that are not nodes become text nodes: data is never HTML. */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value == null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = String(value);
      else if (key === 'on') for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'value' || key === 'checked' || key === 'disabled' || key === 'hidden'
               || key === 'selected') el[key] = value;
      else if (key.startsWith('on')) throw new Error(`no inline handlers: ${key}`);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  add(el, kids);
  return el;
}

export function add(el, kids) {
  for (const kid of kids.flat(Infinity)) {
    if (kid == null || kid === false || kid === '') continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function button(label, cls, onclick, extra = {}) {
  return h('button', { type: 'button', class: `btn ${cls || ''}`.trim(), on: { click: onclick }, ...extra }, label);
}

export function badge(text, cls) {
  return h('span', { class: `badge ${cls || ''}`.trim() }, text);
}
