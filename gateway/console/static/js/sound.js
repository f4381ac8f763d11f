// The alarm sound: a pattern per severity until acknowledged or muted.

import { t } from './texts.js';
import { $ } from './dom.js';
import { may, state } from './state.js';
import { renderBanners } from './drill.js';
import { start } from './session.js';

export const sound = {
  ctx: null,
  timer: null,
  muted: new Set(), // incidents whose sound was muted (for this alarm only)
  pattern: null,
};

export function audioContext() {
  if (!sound.ctx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    sound.ctx = new Ctx();
  }
  if (sound.ctx.state === 'suspended') sound.ctx.resume().catch(() => {});
  return sound.ctx;
}

/** A short beep: square wave with a soft envelope. */
export function beep(ctx, at, freq, length) {
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = 'square';
  osc.frequency.setValueAtTime(freq, at);
  gain.gain.setValueAtTime(0.0001, at);
  gain.gain.exponentialRampToValueAtTime(0.18, at + 0.015);
  gain.gain.setValueAtTime(0.18, at + length - 0.03);
  gain.gain.exponentialRampToValueAtTime(0.0001, at + length);
  osc.connect(gain).connect(ctx.destination);
  osc.start(at);
  osc.stop(at + length + 0.02);
}

export const PATTERNS = {
  // critical / high: three fast high beeps every 1.6 s; medium / low: two lower beeps every 3 s
  urgent: { period: 1600, beeps: [[0, 1046, 0.16], [0.24, 1046, 0.16], [0.48, 1318, 0.22]] },
  normal: { period: 3000, beeps: [[0, 784, 0.2], [0.35, 659, 0.25]] },
};

export function playPattern(name) {
  const ctx = audioContext();
  if (!ctx || ctx.state !== 'running') return;
  const start = ctx.currentTime + 0.02;
  for (const [offset, freq, length] of PATTERNS[name].beeps) beep(ctx, start + offset, freq, length);
}

/** Unacknowledged incidents sound until acknowledged or muted; the state shows on <body>. */
// a mute holds for one announcement: a new device in alarm, a confirmation by a device or a
// reopen announces the incident again (a new announced_at), and it sounds again
const muteKey = (inc) => `${inc.id}@${inc.announced_at || inc.opened_at}`;

export function updateAlarm() {
  const unacked = [...state.incidents.values()].filter((i) => i.status === 'open');
  for (const key of [...sound.muted]) {
    if (!unacked.some((i) => muteKey(i) === key)) sound.muted.delete(key);
  }
  const audible = may('work') ? unacked.filter((i) => !sound.muted.has(muteKey(i))) : [];
  const pattern = audible.length === 0 ? null
    : (audible.some((i) => i.severity === 'critical' || i.severity === 'high') ? 'urgent' : 'normal');
  if (pattern !== sound.pattern) {
    clearInterval(sound.timer);
    sound.timer = null;
    sound.pattern = pattern;
    if (pattern) {
      playPattern(pattern);
      sound.timer = setInterval(() => playPattern(pattern), PATTERNS[pattern].period);
    }
  }
  let mode = 'off';
  if (pattern) mode = sound.ctx && sound.ctx.state === 'running' ? 'playing' : 'blocked';
  else if (unacked.length && may('work')) mode = 'muted';
  document.body.dataset.sound = mode;
  const mute = $('#mute');
  if (mute) {
    mute.hidden = !pattern;
    mute.textContent = t('sound.mute');
  }
  document.title = (unacked.length ? `(${unacked.length}) ` : '') + `${t('app.title')} · ${t('app.subtitle')}`;
  renderBanners();
}

export function muteCurrent() {
  for (const inc of state.incidents.values()) if (inc.status === 'open') sound.muted.add(muteKey(inc));
  updateAlarm();
}

// the browser lets sound start only after a gesture: any click or key unlocks it
export function unlockAudio() {
  const ctx = audioContext();
  if (ctx && ctx.state !== 'running') {
    ctx.resume().then(() => { sound.pattern = null; updateAlarm(); }).catch(() => {});
  }
}
document.addEventListener('pointerdown', unlockAudio, true);
document.addEventListener('keydown', unlockAudio, true);
