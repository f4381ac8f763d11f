// Time as the monitoring room reads it: the server's clock, countdowns, ages, dates.

import { lang, t } from './texts.js';
import { $, h } from './dom.js';
import { renderBanners } from './drill.js';

export let skew = 0; // server clock minus this browser's clock, seconds

export function setSkew(serverNow) {
  if (typeof serverNow === 'number') skew = serverNow - Date.now() / 1000;
}

export const now = () => Date.now() / 1000 + skew;

export const pad = (n) => String(Math.floor(n)).padStart(2, '0');

/** 75 → "1:15", 3725 → "1:02:05", 2 days → "2天 3时" / "2d 3h". */
export function clockSpan(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s >= 86400) {
    const d = Math.floor(s / 86400);
    const hrs = Math.floor((s % 86400) / 3600);
    return lang === 'en' ? `${d}d ${hrs}h` : `${d}天 ${hrs}时`;
  }
  const hrs = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return hrs ? `${hrs}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** 45 → "45 秒", 200 → "3 分 20 秒", for reports. */
export function words(seconds) {
  if (seconds == null || Number.isNaN(seconds)) return '—';
  const s = Math.round(seconds);
  if (s < 60) return lang === 'en' ? `${s} s` : `${s} 秒`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const r = s % 60;
    if (lang === 'en') return r ? `${m} min ${r} s` : `${m} min`;
    return r ? `${m} 分 ${r} 秒` : `${m} 分钟`;
  }
  const hrs = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return lang === 'en' ? `${hrs} h ${m} min` : `${hrs} 小时 ${m} 分`;
}

// Every time is shown on the site's clock (its config names the zone), whatever zone this
// browser is in; a time typed goes to the server as ISO 8601 with the site's offset.
export let zone = 'Asia/Shanghai';
let wallFormat = null;

export function setZone(name) {
  if (!name || name === zone) return;
  zone = name;
  wallFormat = null;
}

/** The site's wall clock at an epoch: {year, month, day, hour, minute, second, offset}. */
export function wallParts(epoch) {
  if (!wallFormat) {
    wallFormat = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
      minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'longOffset',
    });
  }
  const out = {};
  for (const p of wallFormat.formatToParts(new Date(epoch * 1000))) out[p.type] = p.value;
  const offset = (out.timeZoneName || 'GMT').replace('GMT', '') || '+00:00';
  return { ...out, offset };
}

export function fmtClock(epoch) {
  if (epoch == null) return '—';
  const p = wallParts(epoch);
  return `${p.hour}:${p.minute}:${p.second}`;
}

export function fmtDate(epoch) {
  if (epoch == null) return '—';
  const p = wallParts(epoch);
  return `${p.year}-${p.month}-${p.day}`;
}

/** "2026-12-05T14:12:00", the site's wall clock as a datetime-local input holds it. */
export function wallInput(epoch) {
  return `${fmtDate(epoch)}T${fmtClock(epoch)}`;
}

/** A wall-clock time typed on the site's clock ("2026-12-05T14:12[:SS]") with the site's offset:
 * "2026-12-05T14:12:00+08:00". Anything else is sent as typed, for the server to judge. */
export function withOffset(text) {
  const m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d))?$/.exec(text);
  if (!m) return text;
  const asUtc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) / 1000;
  const guess = wallParts(asUtc).offset;
  const sign = guess.startsWith('-') ? -1 : 1;
  const [oh, om] = guess.slice(1).split(':').map(Number);
  const offset = wallParts(asUtc - sign * (oh * 3600 + (om || 0) * 60)).offset;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] || '00'}${offset}`;
}

export function fmtWhen(epoch) {
  if (epoch == null) return '—';
  const today = fmtDate(now());
  const day = fmtDate(epoch);
  return day === today ? fmtClock(epoch) : `${day} ${fmtClock(epoch)}`;
}

/** A live element: "remaining m:ss" counting down, red once passed. */
export function dueEl(due, cls = '') {
  const el = h('span', { class: `due mono ${cls}`.trim(), dataset: { due: String(due) } });
  paintDue(el, now());
  return el;
}

export function paintDue(el, at) {
  const due = Number(el.dataset.due);
  const left = due - at;
  const over = left < 0;
  el.textContent = over ? t('time.over', { t: clockSpan(-left) }) : t('time.left', { t: clockSpan(left) });
  el.classList.toggle('overdue', over);
  el.classList.toggle('soon', !over && left < 60);
}

/** Overdue work first (red, counting up, with how many are overdue), else the next deadline. */
export function dueCell(inc) {
  if (inc.overdue_since) {
    return h('span', { class: 'overdue-cell', dataset: { overdue: String(inc.overdue_count) } },
      dueEl(inc.overdue_since, 'overdue'),
      inc.overdue_count > 1 ? h('span', { class: 'overdue-count' }, ` ×${inc.overdue_count}`) : null);
  }
  return inc.next_deadline ? dueEl(inc.next_deadline) : h('span', { class: 'muted' }, '—');
}

export function ageEl(since, cls = '') {
  const el = h('span', { class: `age mono ${cls}`.trim(), dataset: { age: String(since) } });
  el.textContent = clockSpan(now() - since);
  return el;
}

/** 8 → "8 秒前", 200 → "3 分钟前", 7300 → "2 小时前". */
export function agoText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 3) return lang === 'en' ? 'just now' : '刚刚';
  let span;
  if (s < 60) span = lang === 'en' ? `${s} s` : `${s} 秒`;
  else if (s < 3600) span = lang === 'en' ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 60)} 分钟`;
  else if (s < 86400) span = lang === 'en' ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 3600)} 小时`;
  else span = lang === 'en' ? `${Math.floor(s / 86400)} d` : `${Math.floor(s / 86400)} 天`;
  return t('time.ago', { t: span });
}

export function agoEl(since) {
  if (since == null) return h('span', { class: 'ago muted' }, t('time.never'));
  const el = h('span', { class: 'ago', dataset: { ago: String(since) }, title: fmtWhen(since) });
  el.textContent = agoText(now() - since);
  return el;
}

export function tick() {
  const at = now();
  for (const el of document.querySelectorAll('[data-due]')) paintDue(el, at);
  for (const el of document.querySelectorAll('[data-age]')) el.textContent = clockSpan(at - Number(el.dataset.age));
  for (const el of document.querySelectorAll('[data-ago]')) el.textContent = agoText(at - Number(el.dataset.ago));
  const clock = $('#clock');
  if (clock) clock.textContent = `${fmtDate(at)} ${fmtClock(at)}`;
  renderBanners();
}
