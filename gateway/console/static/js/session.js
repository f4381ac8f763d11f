// Signing in and out, the header and the navigation.

import { lang, t, toggleLang, tx } from './texts.js';
import { $, h } from './dom.js';
import { setZone, tick } from './clock.js';
import { drafts, errors, hasRole, may, state } from './state.js';
import { api } from './api.js';
import { audioContext, muteCurrent, sound, updateAlarm } from './sound.js';
import { setConnected, setDrill } from './drill.js';
import { closeStream, connectStream, render, route } from './stream.js';
import { restoreWalk, walk } from './points.js';

export async function boot() {
  applyStaticTexts();
  document.body.classList.remove('booting');
  for (const el of document.querySelectorAll('.lang-toggle')) el.addEventListener('click', switchLang);
  $('#login-form').addEventListener('submit', login);
  $('#logout').addEventListener('click', logout);
  $('#mute').addEventListener('click', muteCurrent);
  window.addEventListener('hashchange', route);
  setInterval(tick, 1000);
  // one flash phase for the whole page: re-rendered rows keep flashing in step
  setInterval(() => document.body.classList.toggle('blink'), 500);
  try {
    const me = await api('GET', '/api/me');
    await start(me.user);
  } catch {
    showLogin('');
  }
}

export function applyStaticTexts() {
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  $('#login-user').placeholder = t('login.user');
  if (state.site) $('#site-name').textContent = tx(state.site.name);
}

export function switchLang() {
  toggleLang();
  applyStaticTexts();
  if (state.me) {
    renderHeader();
    setConnected(state.connected);
    updateAlarm();
    render();
  }
}

export function showLogin(reason) {
  $('#app').hidden = true;
  $('#login-screen').hidden = false;
  const note = $('#login-reason');
  note.hidden = !reason;
  note.textContent = reason || '';
  $('#login-error').hidden = true;
  $('#login-password').value = '';
  $('#login-user').focus();
}

export async function login(e) {
  e.preventDefault();
  audioContext(); // created inside the gesture, so the alarm can sound later
  const username = $('#login-user').value.trim();
  const password = $('#login-password').value;
  const error = $('#login-error');
  if (!username || !password) {
    error.textContent = t('login.missing');
    error.hidden = false;
    return;
  }
  const submit = $('#login-submit');
  submit.disabled = true;
  submit.textContent = t('login.busy');
  try {
    const result = await api('POST', '/api/login', { username, password });
    error.hidden = true;
    $('#login-password').value = '';
    await start(result.user);
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  } finally {
    submit.disabled = false;
    submit.textContent = t('login.submit');
  }
}

export async function logout() {
  try { await api('POST', '/api/logout', {}); } catch { /* ended anyway */ }
  stop();
  showLogin(t('login.out'));
}

export let ending = false;

export function sessionEnded() {
  if (!state.me || ending) return;
  ending = true;
  stop();
  showLogin(t('login.ended'));
  ending = false;
}

export function stop() {
  closeStream();
  state.me = null;
  state.site = null;
  state.incidents.clear();
  state.loaded = false;
  state.connected = false;
  state.detail = null;
  state.detailId = null;
  drafts.clear();
  errors.clear();
  walk.active = false;
  sound.muted.clear();
  clearInterval(sound.timer);
  sound.timer = null;
  sound.pattern = null;
  document.body.dataset.sound = 'off';
  document.title = `${t('app.title')} · ${t('app.subtitle')}`;
}

export async function start(user) {
  state.me = user;
  state.site = await api('GET', '/api/site');
  setZone(state.site.timezone);
  setDrill(state.site.drill);
  $('#login-screen').hidden = true;
  $('#app').hidden = false;
  applyStaticTexts();
  renderHeader();
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    const home = hasRole('technician') && !may('work') ? '#/points' : '#/board';
    history.replaceState(null, '', home);
  }
  restoreWalk();
  tick();
  route();
  connectStream(); // its hello loads the board: nothing between the load and the stream is missed
}

export function renderHeader() {
  const me = state.me;
  const roles = me.roles.map((r) => t(`role.${r}`)).join('、');
  $('#who').replaceChildren(h('span', { class: 'who-name' }, me.display || me.name),
    h('span', { class: 'who-role' }, roles));
  const nav = $('#nav');
  const items = [['board', t('nav.board')]];
  if (may('open') || may('drill')) items.push(['open', t('nav.open')]);
  items.push(['points', t('nav.points')], ['reports', t('nav.reports')]);
  nav.replaceChildren(...items.map(([name, label]) => {
    const link = h('a', { href: `#/${name}`, class: 'nav-link', dataset: { view: name } }, label);
    if (name === 'board') link.append(h('span', { class: 'nav-count', id: 'nav-unacked', hidden: true }));
    return link;
  }));
  markNav();
  updateNavCount();
}

export function markNav() {
  const current = state.route.name === 'incident' ? 'board' : state.route.name;
  for (const link of document.querySelectorAll('.nav-link')) {
    link.classList.toggle('active', link.dataset.view === current);
  }
}

export function updateNavCount() {
  const el = $('#nav-unacked');
  if (!el) return;
  const n = [...state.incidents.values()].filter((i) => i.status === 'open').length;
  el.hidden = n === 0;
  el.textContent = String(n);
}
