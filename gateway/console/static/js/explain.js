// Commissioning: what a reading would do before going live (the API's /api/explain): which
// point, how it is read, which condition or mapping gives the state, which playbook it opens.

import { t, tx } from './texts.js';
import { badge, button, h } from './dom.js';
import { act, api, errBox, field } from './api.js';

const results = { list: null };

/** What gave the state, in words; a condition with its own expression beside. */
function decidedBy(code) {
  if (code.startsWith('condition ')) return [t('explain.by.condition'), ' ', h('span', { class: 'mono' }, code.slice(15))];
  return t(`explain.by.${code}`);
}

function resultList() {
  if (results.list == null) return h('div', { id: 'explain-result' });
  if (!results.list.length) return h('div', { id: 'explain-result' }, h('p', { class: 'muted' }, t('explain.none')));
  return h('div', { id: 'explain-result' }, h('ul', { class: 'plain-list explain-list' }, results.list.map((p) => h('li', {
    class: 'explain-item', dataset: { point: p.point_id } },
  h('div', {}, h('strong', {}, tx(p.name)), ' ', h('span', { class: 'mono muted small' }, p.point_id)),
  h('div', { class: 'mono small' }, p.binding),
  p.error ? h('p', { class: 'err' }, p.error) : null,
  (p.notes || []).map((note) => h('p', { class: 'muted small' }, note === 'null' ? t('explain.noreading') : note)),
  p.state ? h('div', {}, badge(t(`state.${p.state}`), `state-badge state-${p.state}`), ' ',
    h('span', { class: 'mono' }, p.value == null ? '—' : String(p.value)), ' ',
    h('span', { class: 'muted small' }, `${t('explain.by')} `, decidedBy(p.decided_by))) : null,
  p.state ? h('p', { class: 'explain-opens' }, p.playbooks.length ? `${t('explain.opens')}：${p.playbook_names.map(tx).join('、')}` : t('explain.nothing')) : null,
  p.steps.length ? h('ol', { class: 'small' }, p.steps.map((s) => h('li', {}, tx(s)))) : null,
  p.actions.length ? h('ul', { class: 'small' }, p.actions.map((a) => h('li', {}, tx(a)))) : null))));
}

function paint() {
  const box = document.getElementById('explain-result');
  if (box) box.replaceWith(resultList());
}

export function explainSection() {
  const topic = field('explain:topic', { class: 'input mono', placeholder: 'demo/fire/b1/f12/z3', 'aria-label': t('explain.topic'), maxlength: 1024 });
  const payload = field('explain:payload', { tag: 'textarea', rows: '2', class: 'input mono', placeholder: '{"state": "fire"}', 'aria-label': t('explain.payload'), maxlength: 60000 });
  const modbus = field('explain:modbus', { class: 'input mono', placeholder: 'elevators/1', 'aria-label': t('explain.modbus'), maxlength: 80 });
  const address = field('explain:address', { type: 'number', min: '0', max: '65535', class: 'input', 'aria-label': t('explain.address') });
  const values = field('explain:values', { class: 'input mono', placeholder: '32,0,1', 'aria-label': t('explain.values'), maxlength: 8000 });
  const go = (body) => async (e) => {
    const found = await act('explain', e.currentTarget, () => api('POST', '/api/explain', body()));
    if (found) { results.list = found.points; paint(); }
  };
  const mqttBody = () => ({ topic: topic.value.trim(), payload: payload.value });
  const modbusBody = () => ({
    modbus: modbus.value.trim(), address: Number(address.value || 0),
    values: values.value.split(/[,，\s]+/).filter(Boolean).map(Number),
  });
  return h('details', { class: 'card fold', id: 'sec-explain' },
    h('summary', { class: 'fold-head' }, h('h2', { class: 'card-title' }, t('explain.title'))),
    h('p', { class: 'muted small' }, t('explain.sub')),
    h('div', { class: 'explain-forms' },
      h('div', { class: 'explain-form', dataset: { form: 'mqtt' } },
        h('label', {}, t('explain.topic'), topic), h('label', {}, t('explain.payload'), payload),
        button(t('explain.go'), 'btn-primary btn-small', go(mqttBody), { dataset: { explain: 'mqtt' } })),
      h('div', { class: 'explain-form', dataset: { form: 'modbus' } },
        h('label', {}, t('explain.modbus'), modbus), h('label', {}, t('explain.address'), address),
        h('label', {}, t('explain.values'), values),
        button(t('explain.go'), 'btn-primary btn-small', go(modbusBody), { dataset: { explain: 'modbus' } }))),
    errBox('explain'),
    resultList());
}
