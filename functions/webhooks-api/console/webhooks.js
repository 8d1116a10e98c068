// The webhook list: flow, status, URL and the last delivery or resolution of each, with
// filters and pages.

import { call, webhookPath } from './api.js';
import { h, replace, time } from './dom.js';

const FLOWS = [['', 'All flows'], ['inbound', 'Inbound'], ['outbound', 'Outbound']];
const STATUSES = [['', 'All statuses'], ['active', 'Active'], ['inactive', 'Inactive']];

export async function listPage(main) {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const flow = params.get('flow') ?? '';
  const status = params.get('status') ?? '';
  const cursor = params.get('cursor');
  const query = new URLSearchParams({ limit: '20' });
  if (flow) query.set('flow', flow);
  if (status) query.set('status', status);
  if (cursor) query.set('cursor', cursor);
  const { data } = await call('GET', `webhook?${query}`);

  const filter = (name, label, options, current) => {
    const select = h('select', { id: `filter-${name}`, name },
      options.map(([v, t]) => h('option', { value: v, selected: v === current }, t)));
    select.addEventListener('change', () => {
      const next = new URLSearchParams(location.hash.split('?')[1] ?? '');
      next.delete('cursor');
      if (select.value) next.set(name, select.value); else next.delete(name);
      location.hash = `#/?${next}`;
    });
    return h('div', { class: 'field inline' }, h('label', { for: `filter-${name}` }, label), select);
  };

  const outcomes = [];
  const rows = data.data.map((w) => {
    const outcome = h('td', { class: 'outcome' }, h('span', { class: 'muted' }, 'loading…'));
    outcomes.push(() => lastOutcome(w).then((o) => replace(outcome, o), () => replace(outcome, h('span', { class: 'muted' }, 'unavailable'))));
    return h('tr', {},
      h('th', { scope: 'row' }, h('a', { href: `#/webhook/${encodeURIComponent(w.id)}` }, w.name)),
      h('td', {}, w.flow === 'inbound' ? 'Inbound' : 'Outbound'),
      h('td', {}, h('span', { class: `badge ${w.status}` }, w.status === 'active' ? 'Active' : 'Inactive')),
      h('td', { class: 'url' }, w.url),
      outcome,
      h('td', {}, h('a', { href: `#/webhook/${encodeURIComponent(w.id)}/log`, 'aria-label': `${logName(w)} of ${w.name}` }, logName(w))));
  });

  const pager = h('p', { class: 'pager' },
    cursor ? h('a', { href: `#/?${withCursor(params, null)}` }, 'First page') : null,
    data.nextCursor ? h('a', { href: `#/?${withCursor(params, data.nextCursor)}` }, 'Next page') : null);

  replace(main,
    h('div', { class: 'title' },
      h('h1', { tabindex: -1 }, 'Webhooks'),
      h('a', { class: 'button primary', href: '#/new' }, 'Create Webhook')),
    h('div', { class: 'filters' }, filter('flow', 'Flow', FLOWS, flow), filter('status', 'Status', STATUSES, status)),
    rows.length
      ? h('table', { class: 'webhooks' },
        h('caption', {}, 'Your webhooks, oldest first'),
        h('thead', {}, h('tr', {}, ['Name', 'Flow', 'Status', 'URL', 'Last outcome', 'Log'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows))
      : h('p', { class: 'empty' }, flow || status ? 'No webhook matches these filters.' : 'No webhooks yet: create one to start.'),
    pager);
  runAtMost(OUTCOME_READS_AT_ONCE, outcomes);
}

/** A few at a time: over HTTP/2 a page of 20 would otherwise start 20 function instances. */
const OUTCOME_READS_AT_ONCE = 4;

async function runAtMost(n, tasks) {
  const queue = [...tasks];
  const worker = async () => { while (queue.length) await queue.shift()(); };
  await Promise.all(Array.from({ length: Math.min(n, queue.length) }, worker));
}

const logName = (w) => (w.flow === 'inbound' ? 'Resolve log' : 'Deliveries');

function withCursor(params, cursor) {
  const next = new URLSearchParams(params);
  if (cursor) next.set('cursor', cursor); else next.delete('cursor');
  return next;
}

/** The newest delivery (outbound) or resolution (inbound): one small read per row, made by
 *  the console only when the list is shown, so deliveries pay nothing to keep it. */
async function lastOutcome(w) {
  if (w.flow === 'outbound') {
    const { data } = await call('GET', webhookPath(w.id, '/deliveries?limit=1'));
    const d = data.data[0];
    if (!d) return h('span', { class: 'muted' }, 'No deliveries yet');
    const last = d.attempts[d.attempts.length - 1];
    return [h('span', { class: `badge ${d.status}` }, d.status), ' ',
      last ? `${last.status ?? 'no answer'} · ` : '', time(last?.at ?? d.createdAt)];
  }
  const { data } = await call('GET', webhookPath(w.id, '/logs?limit=1'));
  const e = data.data[0];
  if (!e) return h('span', { class: 'muted' }, 'No resolutions yet');
  const label = e.source === 'webhook' ? 'answered' : 'fallback';
  return [h('span', { class: `badge ${e.source === 'webhook' ? 'succeeded' : 'failed'}` }, label), ' ',
    `${e.kind} · `, time(e.at)];
}
