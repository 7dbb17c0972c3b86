// The trainer's (and admin's) pages: their courses, and one course as a grid of trainees and
// machine states that updates by itself, with provision and reclaim and their progress, a
// machine's reset and a trainee's new invitation code.

import {call, seg} from './api.js';
import {fill, h} from './dom.js';
import {formatDate, formatTime, t} from './i18n.js';
import {allowed, operate, stateBadge, TRANSITIONAL} from './machine.js';
import {renderWeek} from './week.js';

export async function renderCohorts(view, ctx) {
  const cohorts = await call('GET', '/cohorts');
  // the trainer may have gone on to another view while the list was on its way
  if (!ctx.current()) return;
  const rows = cohorts.map((c) => h('tr', {dataset: {testid: 'cohort', slug: c.slug}},
    h('td', {}, h('a', {href: `#/cohort/${c.slug}`, dataset: {testid: 'cohort-link'}}, c.title || c.slug)),
    h('td', {}, c.slug),
    h('td', {}, h('span', {class: `badge cohort-${c.state}`}, t(`cohort.state.${c.state}`))),
    h('td', {}, t('cohort.dates', {start: formatDate(c.starts_at), end: formatDate(c.ends_at)})),
    h('td', {}, c.trainer)));
  fill(view,
       h('h1', {}, t('trainer.cohorts')),
       cohorts.length
           ? h('table', {class: 'cohorts'},
               h('thead', {}, h('tr', {},
                 h('th', {}, t('cohort.title')), h('th', {}, t('cohort.slug')),
                 h('th', {}, t('cohort.state')), h('th', {}, t('cohort.dates_label')),
                 h('th', {}, t('cohort.trainer')))),
               h('tbody', {}, rows))
           : h('p', {class: 'empty'}, t('trainer.none')));
}

// A bulk job's progress until it is done or failed: a <progress> and a line of text.
function jobWatcher(ctx, box, onEnd) {
  return async function watch(jobId, kind) {
    const bar = h('progress', {max: 1, value: 0, dataset: {testid: 'job-progress'}});
    const text = h('span', {class: 'job-text', dataset: {testid: 'job-text'}});
    const errors = h('ul', {class: 'job-errors'});
    fill(box, bar, text, errors);
    box.hidden = false;
    box.dataset.state = 'running';
    for (;;) {
      let job;
      try {
        job = await call('GET', `/jobs/${jobId}`);
      } catch (e) {
        ctx.fail(e);
        return;
      }
      bar.max = Math.max(job.total, 1);
      bar.value = job.done + job.failed;
      const finished = job.state === 'done' || job.state === 'failed';
      text.textContent = t(finished ? 'job.finished' : 'job.progress', {
        kind: t(`job.kind.${kind}`),
        done: job.done,
        total: job.total,
        failed: job.failed,
      });
      fill(errors, (job.errors || []).map((e) => h('li', {}, `${e.machine}: ${e.message}`)));
      if (finished || !ctx.current()) {
        box.dataset.state = job.state;
        onEnd();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };
}

function counts(trainees) {
  const c = {running: 0, stopped: 0, other: 0, none: 0};
  for (const tr of trainees) {
    if (!tr.machines.length) c.none++;
    for (const m of tr.machines) {
      if (m.state === 'running') c.running++;
      else if (m.state === 'stopped') c.stopped++;
      else c.other++;
    }
  }
  return c;
}

export async function renderGrid(view, ctx, slug) {
  const codes = new Map(); // login -> the new code shown in their cell until the page changes
  const head = h('div', {class: 'cohort-head'});
  const actions = h('div', {class: 'actions'});
  const jobBox = h('div', {class: 'job', hidden: true, dataset: {testid: 'job'}});
  const summary = h('p', {class: 'summary', dataset: {testid: 'summary'}});
  const grid = h('div', {class: 'grid', dataset: {testid: 'grid'}});
  const updated = h('p', {class: 'hint updated'});
  const week = h('section', {class: 'week-view', dataset: {testid: 'week-view'}});
  let busy = false;
  const watch = jobWatcher(ctx, jobBox, () => {
    busy = false;
    refresh();
  });

  async function startJob(verb) {
    if (verb === 'reclaim' && !ctx.confirm(t('confirm.reclaim', {cohort: slug}))) return;
    busy = true;
    try {
      const answer = await call('POST', `/cohorts/${seg(slug)}/${verb}`);
      await refresh();
      await watch(answer.job, verb);
    } catch (e) {
      busy = false;
      ctx.fail(e);
    }
  }

  async function reissue(tr) {
    try {
      const inv = await call('POST', `/cohorts/${seg(slug)}/trainees/${seg(tr.login)}/invitation`);
      codes.set(tr.login, inv);
      ctx.notify(t('grid.code_for', {name: tr.display_name, code: inv.code,
                                     expires: formatTime(inv.expires_at)}));
      refresh();
    } catch (e) {
      ctx.fail(e);
    }
  }

  function machineCell(m) {
    return h('div', {class: `gm state-${m.state}`, dataset: {testid: 'machine', state: m.state, machineId: m.id}},
             h('span', {class: 'gm-name', title: m.name}, m.name),
             stateBadge(m),
             m.error ? h('span', {class: 'gm-error', title: m.error}, '!') : null,
             h('button', {
               type: 'button',
               class: 'small',
               dataset: {testid: 'reset'},
               disabled: !allowed(m, 'reset'),
               onclick: async (event) => {
                 event.target.disabled = true;
                 try {
                   await operate(ctx, m, 'reset');
                 } catch (e) {
                   ctx.fail(e);
                 }
                 refresh();
               },
             }, t('op.reset')));
  }

  function traineeCell(tr) {
    const code = codes.get(tr.login);
    return h('div', {class: 'cell', dataset: {testid: 'trainee', login: tr.login}},
             h('div', {class: 'cell-name', dataset: {testid: 'trainee-name'}}, tr.display_name),
             h('div', {class: 'cell-login'}, tr.login),
             tr.machines.length ? tr.machines.map(machineCell)
                                : h('div', {class: 'gm none'}, t('grid.no_machine')),
             code ? h('div', {class: 'new-code', dataset: {testid: 'new-code'}}, code.code) : null,
             h('button', {type: 'button', class: 'small link', dataset: {testid: 'reissue'},
                          onclick: () => reissue(tr)}, t('grid.reissue')));
  }

  async function refresh() {
    if (!ctx.current()) return;
    let cohort;
    try {
      cohort = await call('GET', `/cohorts/${seg(slug)}`);
    } catch (e) {
      ctx.fail(e);
      return;
    }
    if (!ctx.current()) return;
    const open = cohort.state !== 'reclaimed';
    fill(head,
         h('a', {href: '#/', class: 'back'}, t('grid.back')),
         h('h1', {dataset: {testid: 'cohort-title'}}, cohort.title || cohort.slug),
         h('p', {class: 'meta'},
           h('span', {class: `badge cohort-${cohort.state}`}, t(`cohort.state.${cohort.state}`)), ' ',
           t('cohort.dates', {start: formatDate(cohort.starts_at), end: formatDate(cohort.ends_at)}), ' · ',
           t('cohort.template', {template: cohort.template}), ' · ',
           t('cohort.quota', {machines: cohort.quota.machines})));
    fill(actions,
         h('button', {type: 'button', dataset: {testid: 'provision'}, disabled: busy || !open,
                      onclick: () => startJob('provision')}, t('grid.provision')),
         h('button', {type: 'button', dataset: {testid: 'start'}, disabled: busy || !open,
                      onclick: () => startJob('start')}, t('grid.start')),
         h('button', {type: 'button', dataset: {testid: 'stop'}, disabled: busy || !open,
                      onclick: () => startJob('stop')}, t('grid.stop')),
         h('button', {type: 'button', class: 'danger', dataset: {testid: 'reclaim'}, disabled: busy || !open,
                      onclick: () => startJob('reclaim')}, t('grid.reclaim')),
         h('a', {class: 'button', href: `#/cohort/${slug}/cards`, dataset: {testid: 'cards-link'}},
           t('grid.cards')));
    const c = counts(cohort.trainees);
    summary.textContent = t('grid.summary', {n: cohort.trainees.length, ...c});
    fill(grid, cohort.trainees.map(traineeCell));
    const moving = cohort.trainees.some((tr) => tr.machines.some((m) => TRANSITIONAL.includes(m.state)));
    grid.dataset.settled = String(!moving);
    updated.textContent = t('grid.updated', {time: formatTime(new Date().toISOString())});
    await renderWeek(week, slug);
  }

  fill(view, head, actions, jobBox, summary, week, grid, updated);
  await refresh();
  ctx.every(ctx.pollMs, refresh);
}
