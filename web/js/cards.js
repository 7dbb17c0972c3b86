// A printable sheet of invitation cards, one per trainee: their name in their own script,
// login, code, the page's URL and a QR code that opens the page with the code filled in.
// Codes are shown once (the server keeps only their hashes), so the cards are made by
// POST /api/v1/cohorts/{slug}/invitations (cohortctl cohort invitations SLUG --csv).

import {call, seg} from './api.js';
import {fill, h} from './dom.js';
import {formatDate, t} from './i18n.js';

export function pageUrl() {
  return `${window.location.origin}/`;
}

function card(cohort, inv, qrSvg) {
  const link = `${pageUrl()}#code=${encodeURIComponent(inv.code)}`;
  return h('article', {class: 'invitation', dataset: {testid: 'card', login: inv.login}},
           h('p', {class: 'inv-course'}, cohort.title || cohort.slug),
           h('p', {class: 'inv-name', dataset: {testid: 'card-name'}}, inv.display_name),
           h('p', {class: 'inv-login'}, t('cards.login'), ' ', h('strong', {}, inv.login)),
           h('div', {class: 'inv-body'},
             h('div', {class: 'inv-text'},
               h('p', {class: 'inv-label'}, t('cards.code')),
               h('p', {class: 'inv-code', dataset: {testid: 'card-code'}}, inv.code),
               h('p', {class: 'inv-label'}, t('cards.url')),
               h('p', {class: 'inv-url', dataset: {testid: 'card-url'}}, pageUrl())),
             qrSvg ? h('div', {class: 'inv-qr', dataset: {testid: 'card-qr'}}, qrSvg(link, t('cards.qr'))) : null),
           h('p', {class: 'inv-expires'}, t('cards.expires', {date: formatDate(inv.expires_at)})),
           h('p', {class: 'inv-how'}, t('cards.how')));
}

export async function renderCards(view, ctx, slug) {
  const cohort = await call('GET', `/cohorts/${seg(slug)}`);
  // the QR library comes from npm (web/node_modules, installed with the page): without it
  // the cards still carry the URL and the code
  const qrSvg = await import('./qr.js').then((m) => m.qrSvg, () => null);
  // the trainer may have gone on to another view while these were on their way
  if (!ctx.current()) return;
  const notes = h('div', {class: 'notes', dataset: {testid: 'cards-notes'}});
  const sheet = h('div', {class: 'sheet', dataset: {testid: 'cards'}});

  async function issue(reissue) {
    if (reissue && !ctx.confirm(t('cards.reissue_confirm'))) return;
    try {
      const answer = await call('POST', `/cohorts/${seg(slug)}/invitations`, reissue ? {reissue: true} : {});
      const logins = (list) => list.map((e) => e.login).join(', ');
      fill(notes,
           answer.invitations.length ? h('p', {class: 'warn'}, t('cards.once', {n: answer.invitations.length}))
                                     : h('p', {}, t('cards.none')),
           answer.pending.length ? h('p', {}, t('cards.pending', {logins: logins(answer.pending)})) : null,
           answer.needs_admin.length
               ? h('p', {class: 'warn'}, t('cards.needs_admin', {logins: logins(answer.needs_admin)}))
               : null);
      fill(sheet, answer.invitations.map((inv) => card(cohort, inv, qrSvg)));
    } catch (e) {
      ctx.fail(e);
    }
  }

  fill(view,
       h('div', {class: 'no-print'},
         h('a', {href: `#/cohort/${slug}`, class: 'back'}, t('cards.back')),
         h('h1', {}, t('cards.title', {cohort: cohort.title || cohort.slug})),
         h('p', {class: 'hint'}, t('cards.explain')),
         h('div', {class: 'actions'},
           h('button', {type: 'button', dataset: {testid: 'codes-missing'}, onclick: () => issue(false)},
             t('cards.missing')),
           h('button', {type: 'button', class: 'danger', dataset: {testid: 'codes-reissue'},
                        onclick: () => issue(true)}, t('cards.reissue')),
           h('button', {type: 'button', dataset: {testid: 'print'}, onclick: () => window.print()},
             t('cards.print'))),
         notes),
       sheet);
}
