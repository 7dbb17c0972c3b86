// The trainee's page: their machines with state and how to reach them, the operations, one
// more machine within the course's quota, and the console.

import {call} from './api.js';
import {fill, h} from './dom.js';
import {t} from './i18n.js';
import {openConsole} from './console.js';
import {machineFields, opButton, stateBadge} from './machine.js';

// Machines that count against the quota (docs/api.md, Cohort: failed and reclaimed do not).
function holds(m) {
  return m.state !== 'failed' && m.state !== 'reclaimed';
}

export async function renderTrainee(view, ctx) {
  const list = h('div', {class: 'machines', dataset: {testid: 'machines'}});
  const requests = h('div', {class: 'requests'});
  const consoleBox = h('section', {class: 'panel console', hidden: true, dataset: {testid: 'console'}});
  let closeConsole = null;
  fill(view, h('h1', {}, t('trainee.title')), list, requests, consoleBox);

  async function showConsole(m) {
    try {
      const answer = await call('GET', `/machines/${m.id}/console`);
      if (closeConsole) closeConsole();
      const body = h('div', {class: 'console-body'});
      fill(consoleBox,
           h('h2', {}, t('console.title', {name: m.name})),
           body,
           h('button', {type: 'button', dataset: {testid: 'close-console'}, onclick: () => {
             if (closeConsole) closeConsole();
             closeConsole = null;
             consoleBox.hidden = true;
           }}, t('console.close')));
      consoleBox.hidden = false;
      closeConsole = await openConsole(body, m, answer);
    } catch (e) {
      ctx.fail(e);
    }
  }

  function card(m) {
    return h('article', {
      class: `machine card-${m.state}`,
      dataset: {testid: 'machine', machineId: m.id, state: m.state},
    },
    h('h2', {class: 'machine-name', dataset: {testid: 'machine-name'}}, m.name),
    h('p', {class: 'state'}, stateBadge(m)),
    machineFields(m),
    h('div', {class: 'ops'},
      ['start', 'stop', 'reboot', 'reset', 'release'].map((op) => opButton(ctx, m, op, refresh)),
      h('button', {
        type: 'button',
        class: 'op op-console',
        disabled: m.state !== 'running',
        dataset: {testid: 'open-console'},
        onclick: () => showConsole(m),
      }, t('op.console'))));
  }

  function requestBox(cohort, machines) {
    const used = machines.filter((m) => m.cohort === cohort.slug && holds(m)).length;
    const max = cohort.quota ? cohort.quota.machines : 0;
    const open = cohort.state === 'active' || cohort.state === 'planned';
    return h('div', {class: 'request', dataset: {testid: 'request', cohort: cohort.slug}},
             h('span', {class: 'course'}, cohort.title || cohort.slug),
             h('span', {class: 'quota'}, t('trainee.quota', {used, max})),
             h('button', {
               type: 'button',
               dataset: {testid: 'request-machine'},
               disabled: !open || used >= max,
               onclick: async (event) => {
                 event.target.disabled = true;
                 try {
                   const m = await call('POST', '/machines', {cohort: cohort.slug});
                   ctx.notify(t('trainee.requested', {name: m.name}));
                 } catch (e) {
                   ctx.fail(e);
                 }
                 await refresh();
               },
             }, t('trainee.request')),
             used >= max ? h('span', {class: 'hint'}, t('trainee.quota_full')) : null);
  }

  async function refresh() {
    if (!ctx.current()) return;
    try {
      const [machines, cohorts] = await Promise.all([call('GET', '/machines'), call('GET', '/cohorts')]);
      if (!ctx.current()) return;
      fill(list, machines.length ? machines.map(card)
                                 : h('p', {class: 'empty', dataset: {testid: 'no-machine'}}, t('trainee.none')));
      fill(requests, cohorts.filter((c) => c.state !== 'reclaimed').map((c) => requestBox(c, machines)));
    } catch (e) {
      ctx.fail(e);
    }
  }

  await refresh();
  ctx.every(ctx.pollMs, refresh);
}
