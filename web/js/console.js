// A machine's console: the seam where the console in the browser plugs in.
//
// GET /api/v1/machines/{id}/console answers {"host","port","password","uri"} (and, with issue
// 12, "guest_user"/"guest_password"), and, where cohortd can proxy the machine's VNC (a host on
// its own libvirtd), "websocket": a one-time /api/v1/console/TICKET. With it, noVNC (npm
// @novnc/novnc, pinned in web/package-lock.json and installed with the page) draws the screen
// here; the screen's data-state says connecting, connected, closed or failed. What a VNC
// viewer needs is shown too: for a remote host it is the only way in.

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
  const viewer = [
      h('p', {}, t('console.viewer')),
      h('dl', {class: 'fields'},
        field(t('console.host'), answer.host, 'console-host'),
        field(t('console.port'), answer.port, 'console-port'),
        field(t('console.password'), answer.password, 'console-password'),
        field(t('console.uri'), answer.uri, 'console-uri'),
        field(t('machine.guest_user'), answer.guest_user ?? machine.guest_user),
        field(t('machine.guest_password'), answer.guest_password ?? machine.guest_password)),
  ];
  if (!answer.websocket) {
    container.replaceChildren(...viewer, h('p', {class: 'hint'}, t('console.browser_later')));
    return () => container.replaceChildren();
  }
  const {default: RFB} = await import('../node_modules/@novnc/novnc/core/rfb.js');
  const url = new URL(answer.websocket, window.location.href);
  url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const screen = h('div', {class: 'console-screen', dataset: {testid: 'console-canvas', state: 'connecting'}});
  container.replaceChildren(screen, h('details', {class: 'viewer'}, h('summary', {}, t('console.other_viewer')), viewer));
  const rfb = new RFB(screen, url.href, {credentials: {password: answer.password}});
  rfb.scaleViewport = true;
  rfb.addEventListener('connect', () => { screen.dataset.state = 'connected'; });
  rfb.addEventListener('disconnect', (e) => {
    screen.dataset.state = e.detail && e.detail.clean ? 'closed' : 'failed';
  });
  return () => {
    rfb.disconnect();
    container.replaceChildren();
  };
}
