// The trainer's week view of a course: the seven days of the week of its next session, in
// the course's time zone, each with its sessions; and the preload's state ("ready by 07:58").

import {call, seg} from './api.js';
import {fill, h} from './dom.js';
import {lang, t} from './i18n.js';

const DAY_MS = 24 * 3600 * 1000;

// The calendar date (YYYY-MM-DD) and the clock time (HH:MM) of @iso in @zone.
function local(iso, zone) {
  const d = new Date(iso);
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23', weekday: 'short',
  }).formatToParts(d).map((p) => [p.type, p.value]));
  return {date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}`,
          weekday: parts.weekday};
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

// The Monday of the week that holds @date (YYYY-MM-DD), as a UTC midnight.
function mondayOf(date, weekday) {
  const day = Date.parse(`${date}T00:00:00Z`);
  return day - WEEKDAYS.indexOf(weekday) * DAY_MS;
}

function dayLabel(ms) {
  return new Intl.DateTimeFormat(lang(), {timeZone: 'UTC', weekday: 'short', day: 'numeric',
                                          month: 'short'}).format(new Date(ms));
}

export async function renderWeek(box, slug) {
  let schedule;
  try {
    schedule = await call('GET', `/cohorts/${seg(slug)}/schedule`);
  } catch (e) {
    fill(box);
    return;
  }
  const zone = schedule.time_zone;
  const sessions = schedule.sessions || [];
  box.dataset.sessions = String(sessions.length);
  if (!sessions.length) {
    fill(box, h('h2', {}, t('week.title')),
         h('p', {class: 'empty', dataset: {testid: 'week-empty'}}, t('week.none')));
    return;
  }
  const first = local(sessions[0].start, zone);
  const monday = mondayOf(first.date, first.weekday);
  const days = [];
  for (let i = 0; i < 7; i++) {
    const ms = monday + i * DAY_MS;
    const date = new Date(ms).toISOString().slice(0, 10);
    const items = sessions.filter((s) => local(s.start, zone).date === date).map((s) =>
      h('li', {class: 'session', dataset: {testid: 'session', start: s.start}},
        t('week.session', {start: local(s.start, zone).time, end: local(s.end, zone).time})));
    days.push(h('div', {class: 'day', dataset: {testid: 'week-day', date}},
                h('div', {class: 'day-name'}, dayLabel(ms)),
                h('ul', {}, items)));
  }
  const pre = schedule.preload;
  let line = null;
  if (pre) {
    const eta = pre.eta ? local(pre.eta, zone).time : null;
    line = h('p', {class: 'preload', dataset: {testid: 'preload', state: pre.state}},
             t(`week.preload.${pre.state}`, {eta: eta || '', ready: pre.ready, machines: pre.machines}),
             eta && pre.state !== 'in-session' ? ` · ${t('week.ready_by', {time: eta})}` : '');
  }
  fill(box,
       h('h2', {}, t('week.title')),
       h('p', {class: 'hint'}, t('week.zone', {zone})),
       h('div', {class: 'week', dataset: {testid: 'week'}}, days),
       line);
}
