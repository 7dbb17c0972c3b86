// The message catalog: i18n/LANG.json, one flat object of key -> text with {name}
// placeholders. English is complete and the fallback for every key; the others carry
// "_meta": {"review": …} until a native speaker has reviewed them.

export const LANGUAGES = [
  {code: 'en', name: 'English'},
  {code: 'km', name: 'ខ្មែរ'},
  {code: 'my', name: 'မြန်မာ'},
  {code: 'zh-Hans', name: '简体中文'},
];
const LANG_KEY = 'cohort.lang';

let english = {};
let current = {};
let currentCode = 'en';

async function load(code) {
  const answer = await fetch(`i18n/${code}.json`, {credentials: 'omit'});
  if (!answer.ok) throw new Error(`no catalog for ${code}`);
  return answer.json();
}

function guess() {
  const stored = localStorage.getItem(LANG_KEY);
  if (stored && LANGUAGES.some((l) => l.code === stored)) return stored;
  for (const wanted of navigator.languages || []) {
    const w = wanted.toLowerCase();
    if (w.startsWith('km')) return 'km';
    if (w.startsWith('my')) return 'my';
    if (w.startsWith('zh')) return 'zh-Hans';
    if (w.startsWith('en')) return 'en';
  }
  return 'en';
}

export async function init(code) {
  english = await load('en');
  await use(code || guess());
}

export async function use(code) {
  if (!LANGUAGES.some((l) => l.code === code)) code = 'en';
  current = code === 'en' ? english : await load(code).catch(() => english);
  currentCode = code;
  localStorage.setItem(LANG_KEY, code);
  document.documentElement.lang = code;
}

export function lang() {
  return currentCode;
}

// The note that this catalog awaits review, or null.
export function reviewNote() {
  return (current._meta && current._meta.review) || null;
}

export function t(key, params = {}) {
  let text = current[key] ?? english[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

// Translates the static markup: data-i18n (text) and data-i18n-placeholder.
export function translate(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]'))
    el.placeholder = t(el.dataset.i18nPlaceholder);
  document.title = t('app.title');
}

export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(currentCode, {dateStyle: 'medium', timeStyle: 'short'}).format(d);
}

export function formatDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(currentCode, {dateStyle: 'medium'}).format(d);
}
