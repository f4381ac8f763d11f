// Staying live from the server's event stream, and which view is shown.

import { $ } from './dom.js';
import { setSkew } from './clock.js';
import { state } from './state.js';
import { api } from './api.js';
import { updateAlarm } from './sound.js';
import { renderBanners, setConnected, setDrill } from './drill.js';
import { markNav, updateNavCount } from './session.js';
import { renderBoard } from './board.js';
import { refreshDetail, renderIncidentRoute, scheduleDetail } from './incident.js';
import { renderOpen } from './open.js';
import { loadPoints, loadWalkSince, onPoint, renderPoints, walk } from './points.js';
import { loadExtras, onActuatorEvent, paintSection } from './equipment.js';
import { loadReportIncidents, renderReports } from './reports.js';

export let stream = null;
export let reconnectTimer = null;

export function closeStream() {
  if (stream) { stream.close(); stream = null; }
  clearTimeout(reconnectTimer);
}

export function connectStream() {
  if (stream) stream.close();
  const source = new EventSource('/api/stream');
  stream = source;
  source.addEventListener('hello', (e) => {
    const data = JSON.parse(e.data);
    setSkew(data.now);
    setDrill(data.drill);
    setConnected(true);
    // (re)connected: what happened while away is reloaded, never assumed
    reloadAll();
  });
  source.addEventListener('incident', (e) => onIncident(JSON.parse(e.data)));
  source.addEventListener('event', (e) => onEvent(JSON.parse(e.data)));
  source.addEventListener('point', (e) => onPoint(JSON.parse(e.data)));
  source.addEventListener('drill', (e) => {
    setDrill(JSON.parse(e.data));
    renderBanners();
    paintSection('actuators'); // a tester's commands by hand come and go with the window
  });
  source.addEventListener('error', () => {
    if (stream !== source) return;
    setConnected(false);
    if (source.readyState === EventSource.CLOSED) {
      // refused (the session ended?) or gone: check the session, then connect again
      stream = null;
      source.close();
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(async () => {
        try {
          await api('GET', '/api/me');
          if (state.me) connectStream();
        } catch (err) {
          if (err.status !== 401 && state.me) connectStream();
        }
      }, 2000);
    }
  });
}

export async function reloadAll() {
  try {
    await loadIncidents();
  } catch {
    return; // a 401 sends the page to the login; anything else: the next hello retries
  }
  if (state.route.name === 'incident') refreshDetail();
  if (state.route.name === 'points') {
    loadPoints().catch(() => {});
    loadExtras();
  }
  if (state.route.name === 'reports') loadReportIncidents();
  if (walk.active) loadWalkSince();
}

export async function loadIncidents() {
  const data = await api('GET', '/api/incidents?status=live');
  const fresh = new Map();
  for (const inc of data.incidents) {
    const known = state.incidents.get(inc.id);
    fresh.set(inc.id, known && known.updated_at > inc.updated_at ? known : inc);
  }
  state.incidents = fresh;
  state.loaded = true;
  boardChanged();
}

export function onIncident(summary) {
  const known = state.incidents.get(summary.id);
  if (known && known.updated_at > summary.updated_at) return;
  if (summary.status === 'closed') state.incidents.delete(summary.id);
  else state.incidents.set(summary.id, summary);
  boardChanged();
  if (state.route.name === 'incident' && state.detailId === summary.id) scheduleDetail();
}

export function onEvent(event) {
  if (state.route.name === 'incident' && state.detailId === event.incident_id) scheduleDetail();
  onActuatorEvent(event);
}

export function boardChanged() {
  updateAlarm();
  updateNavCount();
  // render at once: a new alarm must not wait
  if (state.route.name === 'board') renderBoard();
}

// ------------------------------------------------------------------------------------ routing

export function route() {
  if (!state.me) return;
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/');
  const arg = decodeURIComponent(rest.join('/'));
  const known = ['board', 'incident', 'open', 'points', 'reports'];
  state.route = { name: known.includes(name) ? name : 'board', arg };
  if (state.route.name !== 'incident') { state.detail = null; state.detailId = null; }
  markNav();
  render(true);
  window.scrollTo(0, 0);
}

export function render(entering = false) {
  const view = $('#view');
  view.dataset.view = state.route.name;
  switch (state.route.name) {
    case 'incident': renderIncidentRoute(entering); break;
    case 'open': renderOpen(); break;
    case 'points': renderPoints(entering); break;
    case 'reports': renderReports(entering); break;
    default: renderBoard();
  }
}
