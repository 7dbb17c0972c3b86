// Cohort's web page: sign-in, then the trainee's machines or the trainer's courses. Plain
// ES modules, no build step; every text goes through the catalog (i18n.js) and into the DOM
// as text (dom.js).

import {call, getToken, setToken} from './api.js';
import {$, fill, h} from './dom.js';
import * as i18n from './i18n.js';
import {t} from './i18n.js';
import {renderTrainee} from './trainee.js';
import {renderCohorts, renderGrid} from './trainer.js';
import {renderCards} from './cards.js';

const POLL_MS = 3000;
const state = {me: null, timers: [], route: 0};

function notify(message, kind = 'info') {
  const el = $('#notice');
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = !message;
}

function errorText(e) {
  if (e && e.code === 'network') return t('error.network', {message: e.message});
  return t('error.generic', {message: e && e.message ? e.message : String(e)});
}

function stopTimers() {
  for (const id of state.timers) clearInterval(id);
  state.timers = [];
}

// What a view gets: who is signed in, how to say things, how to poll while it is shown.
function context(routeId) {
  return {
    me: state.me,
    notify,
    fail(e) {
      if (e && e.status === 401) return signOut(t('signin.expired'));
      notify(errorText(e), 'error');
    },
    confirm: (message) => window.confirm(message),
    // Calls @fn every @ms while this view is shown and the tab is visible.
    every(ms, fn) {
      const id = setInterval(() => {
        if (routeId === state.route && !document.hidden) fn();
      }, ms);
      state.timers.push(id);
    },
    current: () => routeId === state.route,
    pollMs: POLL_MS,
  };
}

function showSignIn() {
  $('#signin').hidden = false;
  $('#view').hidden = true;
  $('#sign-out').hidden = true;
  fill($('#who'));
  $('#code').focus();
}

async function route() {
  stopTimers();
  const routeId = ++state.route;
  if (!state.me) return showSignIn();
  $('#signin').hidden = true;
  $('#sign-out').hidden = false;
  fill($('#who'), t('account.signed_in_as', {
    name: state.me.display_name,
    login: state.me.login,
    role: t(`role.${state.me.role}`),
  }));
  const view = $('#view');
  view.hidden = false;
  const ctx = context(routeId);
  try {
    if (state.me.role === 'trainee') return await renderTrainee(view, ctx);
    const m = window.location.hash.match(/^#\/cohort\/([a-z0-9-]+)(\/cards)?$/);
    if (m && m[2]) return await renderCards(view, ctx, m[1]);
    if (m) return await renderGrid(view, ctx, m[1]);
    return await renderCohorts(view, ctx);
  } catch (e) {
    ctx.fail(e);
  }
}

async function signIn(token, shownToken) {
  setToken(token);
  try {
    state.me = await call('GET', '/whoami');
  } catch (e) {
    setToken(null);
    state.me = null;
    throw e;
  }
  notify(shownToken ? t('signin.keep_token', {token: shownToken}) : '', 'info');
  if (window.location.hash.startsWith('#code=')) window.history.replaceState(null, '', '#/');
  await route();
}

function signOut(message) {
  setToken(null);
  state.me = null;
  notify(message || '', 'info');
  window.history.replaceState(null, '', '#/');
  route();
}

async function redeem(event) {
  event.preventDefault();
  const code = $('#code').value.trim();
  if (!code) return;
  try {
    const answer = await call('POST', '/redeem', {code});
    $('#code').value = '';
    await signIn(answer.token, answer.token);
  } catch (e) {
    notify(t('signin.failed', {message: e.message}), 'error');
  }
}

async function useToken(event) {
  event.preventDefault();
  const token = $('#token').value.trim();
  if (!token) return;
  try {
    await signIn(token, null);
    $('#token').value = '';
  } catch (e) {
    notify(t('signin.failed', {message: e.message}), 'error');
  }
}

function showReview() {
  const note = i18n.reviewNote();
  $('#review').textContent = note ? t('review.note') : '';
  $('#review').hidden = !note;
}

function languageSelect() {
  const select = $('#lang');
  fill(select, i18n.LANGUAGES.map((l) => h('option', {value: l.code, lang: l.code}, l.name)));
  select.value = i18n.lang();
  select.addEventListener('change', async () => {
    await i18n.use(select.value);
    i18n.translate();
    showReview();
    route();
  });
}

async function start() {
  await i18n.init();
  i18n.translate();
  languageSelect();
  showReview();
  $('#redeem-form').addEventListener('submit', redeem);
  $('#token-form').addEventListener('submit', useToken);
  $('#sign-out').addEventListener('click', () => signOut(''));
  window.addEventListener('hashchange', () => {
    if (!window.location.hash.startsWith('#code=')) route();
  });
  // an invitation card's QR code opens the page with the code: #code=XXXX-XXXX-XXXX-XXXX
  const m = window.location.hash.match(/^#code=([A-Za-z0-9 -]{4,40})$/);
  if (m) $('#code').value = decodeURIComponent(m[1]);
  if (getToken()) {
    try {
      state.me = await call('GET', '/whoami');
    } catch (e) {
      if (e.status === 401) setToken(null);
      else notify(errorText(e), 'error');
    }
  }
  await route();
  document.body.dataset.ready = 'true';
}

start();
