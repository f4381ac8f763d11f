// Banners, and the drill window: start, end, and the banner while it runs.

import { lang, t } from './texts.js';
import { $, button, h } from './dom.js';
import { dueEl, fmtWhen, now } from './clock.js';
import { errors, may, state } from './state.js';
import { act, api, clearDrafts, errBox, field, paintErrors } from './api.js';
import { unlockAudio } from './sound.js';
import { Z } from './incident_record.js';
import { points } from './points.js';

export function renderBanners() {
  const box = $('#banners');
  if (!box || !state.me) return;
  const items = [];
  if (!state.connected) items.push(h('div', { class: 'banner banner-warn' }, t('conn.down')));
  if (document.body.dataset.sound === 'blocked') {
    items.push(h('button', { type: 'button', class: 'banner banner-alarm banner-click', on: { click: unlockAudio } },
      t('sound.blocked')));
  }
  if (drillOn()) items.push(drillBanner());
  // the drill banner's countdown is painted by tick(): its signature leaves the seconds out
  const signature = items.map((i) => i.dataset.sig || i.className + i.textContent).join('|');
  if (box.dataset.sig !== signature) {
    box.dataset.sig = signature;
    box.replaceChildren(...items);
  }
  renderDrillControl();
}

// ------------------------------------------------------------------------------------ drill window

export const drillOn = () => Boolean(state.drillUntil && state.drillUntil > now());

/** What the drill window covers, in words: its buildings and points. */
export function drillScope() {
  const w = state.drill || {};
  const parts = [];
  if (w.buildings && w.buildings.length) parts.push(w.buildings.map((b) => t('place.building', { v: b })).join('、'));
  if (w.points && w.points.length) parts.push(w.points.slice(0, 5).join(', ') + (w.points.length > 5 ? ` +${w.points.length - 5}` : ''));
  return parts.length ? parts.join(Z() ? '；' : '; ') : t('drill.scope.none');
}

export function setDrill(window) {
  state.drill = window && window.until ? window : null;
  state.drillUntil = state.drill ? state.drill.until : 0;
}

export function drillBanner() {
  const mine = may('drill');
  return h('div', { class: 'banner banner-drill', id: 'drill-banner', role: 'status',
    dataset: { sig: `drill:${state.drillUntil}:${lang}:${mine}:${drillScope()}` } },
  h('div', { class: 'drill-banner-row' },
    h('span', { class: 'drill-mark', 'aria-hidden': 'true' }, t('drill')),
    h('span', { class: 'drill-banner-text' }, t('drill.banner', { until: fmtWhen(state.drillUntil), scope: drillScope() })),
    dueEl(state.drillUntil, 'drill-left'),
    mine ? button(t('drill.end'), 'btn-warn btn-small', endDrill, { dataset: { action: 'drill-end' } }) : null),
  mine ? errBox('drill') : null);
}

/** The header's "start a drill" form, for the roles that may; hidden while a window is on. */
export function renderDrillControl() {
  const box = $('#drill-ctl');
  if (!box) return;
  const show = Boolean(state.me) && may('drill') && !drillOn();
  const signature = show ? `on:${lang}` : 'off';
  if (box.dataset.sig === signature) return;
  box.dataset.sig = signature;
  box.hidden = !show;
  if (!show) { box.replaceChildren(); return; }
  const minutes = field('drill:minutes', { type: 'number', class: 'input drill-minutes', id: 'drill-minutes',
    min: '1', max: '240', step: '1', inputmode: 'numeric', 'aria-label': t('drill.minutes'), title: t('drill.minutes') }, '30');
  const buildings = ((state.site && state.site.buildings) || []).map((b) => h('label', { class: 'drill-building small' },
    field(`drill:b:${b}`, { type: 'checkbox', name: 'drill-building', value: b }), t('place.building', { v: b })));
  const points = field('drill:points', { type: 'text', class: 'input drill-points', id: 'drill-points',
    placeholder: t('drill.scope.points'), 'aria-label': t('drill.scope.points'), maxlength: '2000' }, '');
  const form = h('form', { class: 'drill-form', novalidate: true, on: { submit: startDrill } },
    minutes, h('span', { class: 'muted small' }, t('drill.unit')),
    h('span', { class: 'drill-scope', title: t('drill.scope.buildings') }, buildings), points,
    h('button', { type: 'submit', class: 'btn btn-drill btn-small', dataset: { action: 'drill-start' } }, t('drill.start')));
  box.replaceChildren(form, errBox('drill'));
}

export async function refreshDrill() {
  const site = await api('GET', '/api/site');
  state.site = site;
  setDrill(site.drill);
  renderBanners();
}

function refuse(text, focus) {
  errors.set('drill', text);
  paintErrors('drill');
  if (focus) focus.focus();
}

/** "Start drill" asks for a length and a scope, then for a confirmation that says both. */
export function startDrill(e) {
  e.preventDefault();
  const input = $('#drill-minutes');
  const raw = input ? input.value.trim() : '30';
  const minutes = Number(raw);
  if (!raw || !Number.isInteger(minutes) || minutes < 1 || minutes > 240) {
    refuse(t('drill.range'), input);
    return;
  }
  const form = e.currentTarget;
  const buildings = [...form.querySelectorAll('input[name=drill-building]:checked')].map((x) => x.value);
  const typed = $('#drill-points');
  const points = typed ? typed.value.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean) : [];
  if (!buildings.length && !points.length) {
    refuse(t('drill.noscope'), form.querySelector('input[name=drill-building]'));
    return;
  }
  errors.delete('drill');
  paintErrors('drill');
  const scope = [buildings.map((b) => t('place.building', { v: b })).join('、'), points.join(', ')].filter(Boolean).join('；');
  const ask = h('div', { class: 'drill-confirm', role: 'alertdialog', 'aria-label': t('drill.start') },
    h('p', {}, t('drill.confirm', { minutes, until: fmtWhen(now() + minutes * 60), scope })),
    button(t('drill.yes'), 'btn-drill btn-small', async (ev) => {
      const done = await act('drill', ev.currentTarget, async () => {
        await api('POST', '/api/drill', { minutes, buildings, points });
        await refreshDrill();
        return true;
      });
      if (done) clearDrafts('drill:minutes');
    }, { dataset: { action: 'drill-confirm' } }),
    button(t('btn.cancel'), 'btn-ghost btn-small', () => ask.remove(), { dataset: { action: 'drill-cancel' } }));
  const old = form.parentElement && form.parentElement.querySelector('.drill-confirm');
  if (old) old.remove();
  form.after(ask);
}

export async function endDrill(e) {
  await act('drill', e.currentTarget, async () => {
    await api('DELETE', '/api/drill');
    await refreshDrill();
  });
}

export function setConnected(up) {
  state.connected = up;
  const conn = $('#conn');
  if (conn) {
    conn.dataset.state = up ? 'up' : 'down';
    $('#conn-text').textContent = up ? t('conn.up') : t('conn.down');
  }
  renderBanners();
}
