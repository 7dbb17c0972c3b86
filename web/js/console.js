// A machine's console. This module is the seam where the console in the browser plugs in.
//
// Today GET /api/v1/machines/{id}/console answers {"host","port","password","uri"} (and,
// with issue 12, "guest_user"/"guest_password"): the page shows what a VNC viewer needs, as
// `cohortctl machine console` does. When cohortd's console proxy answers a "websocket" path
// (a one-time /api/v1/console/TICKET), openConsole() hands it to noVNC (npm @novnc/novnc,
// pinned in web/package-lock.json and installed with the page), in the <div> it is given.
// That branch runs only once the proxy exists; the console-canvas test of the web suite
// will exercise it then.

import {h} from './dom.js';
import {t} from './i18n.js';

function field(label, value, testid) {
  if (value === undefined || value === null || value === '') return null;
  return h('div', {class: 'field'}, h('dt', {}, label),
           h('dd', {dataset: testid ? {testid} : undefined}, String(value)));
}

// Shows the console of @machine in @container from @answer (the console route's answer).
// Returns a function that closes it.
export async function openConsole(container, machine, answer) {
  if (answer.websocket) {
    const {default: RFB} = await import('../node_modules/@novnc/novnc/core/rfb.js');
    const url = new URL(answer.websocket, window.location.href);
    url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const screen = h('div', {class: 'console-screen', dataset: {testid: 'console-canvas'}});
    container.replaceChildren(screen);
    const rfb = new RFB(screen, url.href, {credentials: {password: answer.password}});
    rfb.scaleViewport = true;
    return () => rfb.disconnect();
  }
  container.replaceChildren(
      h('p', {}, t('console.viewer')),
      h('dl', {class: 'fields'},
        field(t('console.host'), answer.host, 'console-host'),
        field(t('console.port'), answer.port, 'console-port'),
        field(t('console.password'), answer.password, 'console-password'),
        field(t('console.uri'), answer.uri, 'console-uri'),
        field(t('machine.guest_user'), answer.guest_user ?? machine.guest_user),
        field(t('machine.guest_password'), answer.guest_password ?? machine.guest_password)),
      h('p', {class: 'hint'}, t('console.browser_later')));
  return () => container.replaceChildren();
}
