// Opening an incident by hand.

import { t, tx } from './texts.js';
import { $, add, h } from './dom.js';
import { drafts, errors, may, state } from './state.js';
import { act, api, errBox, field, paintErrors, rerender } from './api.js';
import { extra } from './equipment.js';

export function renderOpen() {
  const view = $('#view');
  if (!may('open') && !may('drill')) {
    view.replaceChildren(h('p', { class: 'pad muted' }, t('open.nomay')));
    return;
  }
  const drillOnly = !may('open');
  const key = 'open';
  const manual = (state.site.playbooks || []).filter((p) => p.manual);
  const playbook = field(`${key}:playbook`, { tag: 'select', class: 'input', name: 'playbook', required: true });
  add(playbook, [h('option', { value: '' }, t('open.choose')),
    manual.map((p) => h('option', { value: p.id }, `${tx(p.name)} · ${t(`sev.${p.severity}`)}`))]);
  const building = field(`${key}:building`, { tag: 'select', class: 'input', name: 'building' });
  add(building, [h('option', { value: '' }, t('open.none')),
    (state.site.buildings || []).map((b) => h('option', { value: b }, t('place.building', { v: b })))]);
  const text = (name, max, extra = {}) => field(`${key}:${name}`, { class: 'input', name, maxlength: max, ...extra });
  const drill = field(`${key}:drill`, { type: 'checkbox', name: 'drill' }, drillOnly);
  if (drillOnly) { drill.checked = true; drill.disabled = true; }
  const labelled = (label, input, cls = '') => h('label', { class: `field ${cls}`.trim() }, h('span', { class: 'field-label' }, label), input);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-lg', dataset: { action: 'open' } }, t('btn.open'));
  const form = h('form', { class: 'card open-form', novalidate: true },
    h('div', { class: 'form-grid' },
      labelled(t('open.playbook'), playbook, 'span-2'),
      labelled(t('open.building'), building),
      labelled(t('open.floor'), text('floor', 40, { inputmode: 'text' })),
      labelled(t('open.zone'), text('zone', 40)),
      labelled(t('open.unit'), text('unit', 40)),
      labelled(t('open.reporter'), text('reporter', 200), 'span-2'),
      labelled(t('open.note'), field(`${key}:note`, { tag: 'textarea', rows: '3', class: 'input', name: 'note', maxlength: 4000 }), 'span-2')),
    (may('drill') ? h('label', { class: 'check' }, drill, h('span', {}, t('open.drill'))) : null),
    drillOnly ? h('p', { class: 'muted small' }, t('open.drillonly')) : null,
    h('div', { class: 'form-actions' }, submit),
    errBox(key));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = (name) => String((form.elements[name] && form.elements[name].value) || '').trim();
    if (!value('playbook')) {
      errors.set(key, `${t('open.playbook')}: ${t('err.required')}`);
      paintErrors(key);
      return;
    }
    const body = {
      playbook: value('playbook'), building: value('building'), floor: value('floor'),
      zone: value('zone'), unit: value('unit'), reporter: value('reporter'), note: value('note'),
      drill: drillOnly || Boolean(form.elements.drill && form.elements.drill.checked),
    };
    const result = await act(key, submit, () => api('POST', '/api/incidents', body));
    if (result) {
      for (const k of [...drafts.keys()]) if (k.startsWith('open:')) drafts.delete(k);
      location.hash = result.id ? `#/incident/${encodeURIComponent(result.id)}` : '#/board';
    }
  });
  rerender(view, () => [h('div', { class: 'view-head' }, h('div', {}, h('h1', {}, t('open.title')),
    h('p', { class: 'muted' }, t('open.sub')))), form]);
}
