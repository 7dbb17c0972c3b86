// One machine as the trainee and the trainer see it, and the operations its state allows
// (docs/api.md, "Machine states").

import {call} from './api.js';
import {h} from './dom.js';
import {formatTime, t} from './i18n.js';

const AT_REST_OR_MOVING = ['running', 'stopped', 'starting', 'stopping', 'rebooting'];
export const OPS = {
  start: AT_REST_OR_MOVING,
  stop: AT_REST_OR_MOVING,
  reboot: AT_REST_OR_MOVING,
  reset: [...AT_REST_OR_MOVING, 'failed'],
  release: [...AT_REST_OR_MOVING, 'failed'],
};
export const TRANSITIONAL = ['provisioning', 'starting', 'stopping', 'rebooting', 'resetting',
                             'reclaiming', 'requested'];

// What the API would take but does nothing a person wants: starting what runs.
const REDUNDANT = {start: ['running', 'starting'], stop: ['stopped', 'stopping']};

export function allowed(machine, op) {
  return OPS[op].includes(machine.state) && !(REDUNDANT[op] || []).includes(machine.state);
}

export function stateBadge(machine) {
  return h('span', {class: `badge state-${machine.state}`, dataset: {testid: 'machine-state'}},
           t(`state.${machine.state}`));
}

function field(label, value, testid) {
  if (value === undefined || value === null || value === '') return null;
  return h('div', {class: 'field'}, h('dt', {}, label),
           h('dd', {dataset: testid ? {testid} : undefined}, value));
}

// Readiness, addresses and the guest account come with issue 12's fields; a cohortd without
// them shows none of these lines.
function readiness(m) {
  if (!('ready' in m) || m.state !== 'running') return null;
  return field(t('machine.readiness'), m.ready ? t('machine.ready') : t('machine.not_ready'),
               'machine-ready');
}

function addresses(m) {
  if (!Array.isArray(m.addresses) || m.addresses.length === 0) return null;
  const text = m.addresses.map((a) => (typeof a === 'string' ? a : a.address || a.ip || ''))
                   .filter(Boolean).join(', ');
  return field(t('machine.address'), text, 'machine-address');
}

export function machineFields(m, {showTrainee = false} = {}) {
  return h('dl', {class: 'fields'},
           showTrainee ? field(t('machine.trainee'), m.trainee) : null,
           field(t('machine.cohort'), m.cohort),
           readiness(m),
           addresses(m),
           field(t('machine.guest_user'), m.guest_user, 'machine-guest-user'),
           field(t('machine.guest_password'), m.guest_password, 'machine-guest-password'),
           field(t('machine.host'), m.host),
           field(t('machine.size'), t('machine.size_value', {vcpus: m.vcpus, memory: m.memory_mib})),
           m.expires_at ? field(t('machine.expires'), formatTime(m.expires_at)) : null,
           Array.isArray(m.pending) && m.pending.length
               ? field(t('machine.pending'), m.pending.map((op) => t(`op.${op}`)).join(', '))
               : null,
           m.error ? field(t('machine.error'), m.error, 'machine-error') : null);
}

// POSTs @op (DELETE for release), after asking when it destroys something.
export async function operate(ctx, m, op) {
  if (op === 'reset' && !ctx.confirm(t('confirm.reset', {name: m.name}))) return false;
  if (op === 'release' && !ctx.confirm(t('confirm.release', {name: m.name}))) return false;
  const answer = op === 'release' ? await call('DELETE', `/machines/${m.id}`)
                                  : await call('POST', `/machines/${m.id}/${op}`);
  ctx.notify(t('op.asked', {op: t(`op.${op}`), name: m.name, state: t(`state.${answer.state}`)}));
  return true;
}

export function opButton(ctx, m, op, done) {
  return h('button', {
    type: 'button',
    class: `op op-${op}`,
    disabled: !allowed(m, op),
    dataset: {testid: `op-${op}`},
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await operate(ctx, m, op);
      } catch (e) {
        ctx.fail(e);
      }
      await done();
    },
  }, t(`op.${op}`));
}
