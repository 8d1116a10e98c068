// The log of one webhook: deliveries with every attempt, Retry and Recover (outbound), or
// resolutions and tests with every try (inbound).

import { call, webhookPath } from './api.js';
import { h, replace, time, announce, attemptsTable, pretty } from './dom.js';

const DELIVERY_STATUSES = [['', 'All'], ['pending', 'Pending'], ['succeeded', 'Succeeded'], ['failed', 'Failed']];

export async function logPage(main, id) {
  const { data: webhook } = await call('GET', webhookPath(id));
  const header = [
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Webhooks'), ' › ',
      h('a', { href: `#/webhook/${encodeURIComponent(id)}` }, webhook.name)),
  ];
  if (webhook.flow === 'outbound') return deliveriesPage(main, webhook, header);
  return resolutionsPage(main, webhook, header);
}

// ------------------------------------------------------------------ outbound
async function deliveriesPage(main, webhook, header) {
  const status = h('select', { id: 'delivery-status' },
    DELIVERY_STATUSES.map(([v, t]) => h('option', { value: v }, t)));
  const rows = h('tbody', {});
  const more = h('p', { class: 'pager' });
  const table = h('table', { class: 'deliveries' },
    h('caption', {}, 'Deliveries, newest event first'),
    h('thead', {}, h('tr', {}, ['Event', 'Event id', 'Status', 'Attempts', 'Next attempt', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
    rows);
  const load = pages({
    busy: table, items: rows, more,
    path: (q) => {
      if (status.value) q.set('status', status.value);
      return webhookPath(webhook.id, `/deliveries?${q}`);
    },
    render: (d) => deliveryRows(webhook, d),
    empty: () => h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No deliveries yet.')),
  });
  status.addEventListener('change', () => load(true));

  replace(main, header,
    h('h1', { tabindex: -1 }, `Deliveries: ${webhook.name}`),
    h('div', { class: 'filters' },
      h('div', { class: 'field inline' }, h('label', { for: 'delivery-status' }, 'Status'), status),
      h('button', { type: 'button', onclick: async () => { await load(true); announce('Deliveries refreshed.'); } }, 'Refresh')),
    recoverForm(webhook),
    table,
    more);
  await load(true);
}

/** A delivery's row and the (hidden until asked) row with its attempts and Retry. */
function deliveryRows(webhook, d) {
  const detail = h('tr', { class: 'detail', hidden: true }, h('td', { colspan: 6 }));
  const toggle = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-label': `Details of ${d.event.event} ${d.event.id}` }, 'Details');
  const statusCell = h('td', {}, badge(d.status));
  const countCell = h('td', {}, d.attemptCount);
  const nextCell = h('td', {}, d.status === 'pending' ? time(d.nextAttemptAt) : '—');

  const show = (full) => {
    statusCell.replaceChildren(badge(full.status));
    countCell.textContent = full.attemptCount;
    nextCell.replaceChildren(full.status === 'pending' ? time(full.nextAttemptAt) : '—');
    const retry = h('button', { type: 'button', class: 'primary' }, 'Retry now');
    const note = h('p', { class: 'muted', 'aria-live': 'polite' });
    retry.addEventListener('click', async () => {
      retry.disabled = true;
      try {
        const { data } = await call('POST', webhookPath(webhook.id, `/deliveries/${encodeURIComponent(d.id)}/retry`));
        show(data.delivery);
        announce(`Resent: ${data.attempt.status ?? data.attempt.error}.`);
        detail.querySelector('button')?.focus();
      } catch (e) {
        note.textContent = `Not resent: ${e.message}`;
        retry.disabled = false;
      }
    });
    replace(detail.firstChild,
      h('p', {}, 'Delivery ', h('code', {}, full.id), ' (the receiver sees it as webhook-id), event at ', time(full.event.occurredAt)),
      full.event.data !== undefined ? [h('p', {}, 'Payload data'), h('pre', { class: 'body', tabindex: 0, 'aria-label': 'Payload data' }, pretty(full.event.data))] : null,
      attemptsTable(full.attempts, `Attempts of ${full.event.event} ${full.event.id}`, true),
      h('div', { class: 'actions' }, retry), note);
  };
  toggle.addEventListener('click', async () => {
    const open = toggle.getAttribute('aria-expanded') === 'true';
    if (open) {
      toggle.setAttribute('aria-expanded', 'false');
      detail.hidden = true;
      return;
    }
    try {
      const { data } = await call('GET', webhookPath(webhook.id, `/deliveries/${encodeURIComponent(d.id)}`));
      show(data);
      toggle.setAttribute('aria-expanded', 'true');
      detail.hidden = false;
    } catch (e) {
      announce(`Could not load the delivery: ${e.message}`, 'error');
    }
  });
  return [h('tr', { 'data-delivery': d.id },
    h('td', {}, h('code', {}, d.event.event)),
    h('td', {}, d.event.id),
    statusCell, countCell, nextCell,
    h('td', {}, toggle)), detail];
}

function recoverForm(webhook) {
  const input = h('input', { type: 'datetime-local', id: 'recover-since', step: 1 });
  const yesterday = new Date(Date.now() - 24 * 3600 * 1000);
  input.value = localInputValue(yesterday);
  const result = h('p', { class: 'muted', 'aria-live': 'polite', id: 'recover-result' });
  const error = h('p', { class: 'error', id: 'recover-error', hidden: true });
  const form = h('form', { class: 'card recover', novalidate: true, 'aria-labelledby': 'recover-title' },
    h('h2', { id: 'recover-title' }, 'Recover failed deliveries'),
    h('div', { class: 'field inline' },
      h('label', { for: 'recover-since' }, 'Resend failed deliveries of events since'),
      input,
      h('button', { type: 'submit' }, 'Recover')),
    h('p', { class: 'help' }, 'Each failed delivery since then gets one more attempt (up to 14 days back).'),
    error, result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    input.removeAttribute('aria-invalid');
    const since = input.value ? new Date(input.value).toISOString() : '';
    try {
      const { data } = await call('POST', webhookPath(webhook.id, '/recover'), { body: { since } });
      result.textContent = `${data.queued} failed deliver${data.queued === 1 ? 'y' : 'ies'} queued for another attempt.`;
    } catch (e) {
      error.hidden = false;
      error.textContent = e.message;
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', 'recover-error');
      input.focus();
    }
  });
  return form;
}

/** `YYYY-MM-DDTHH:MM:SS` in local time, as datetime-local inputs take it. */
function localInputValue(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Pages of a log into `items`, newest first: `load(true)` starts again, `load(false)` (the
 *  "Load more" button in `more`) appends the next page. `busy` is aria-busy while loading. */
function pages({ busy, items, more, path, render, empty }) {
  let cursor = null;
  const load = async (reset) => {
    busy.setAttribute('aria-busy', 'true');
    const q = new URLSearchParams({ limit: '20' });
    if (!reset && cursor) q.set('cursor', cursor);
    let data;
    try {
      ({ data } = await call('GET', path(q)));
    } finally {
      busy.removeAttribute('aria-busy');
    }
    if (reset) replace(items);
    for (const item of data.data) items.append(...render(item));
    if (!items.children.length) items.append(empty());
    cursor = data.nextCursor;
    replace(more, cursor ? h('button', { type: 'button', onclick: () => load(false) }, 'Load more') : null);
  };
  return load;
}

function badge(status) {
  return h('span', { class: `badge ${status}` }, status);
}

// ------------------------------------------------------------------ inbound
async function resolutionsPage(main, webhook, header) {
  const list = h('div', { class: 'entries' });
  const more = h('p', { class: 'pager' });
  const load = pages({
    busy: list, items: list, more,
    path: (q) => webhookPath(webhook.id, `/logs?${q}`),
    render: (e) => [entry(e)],
    empty: () => h('p', { class: 'muted' }, 'No resolutions or tests yet.'),
  });
  replace(main, header,
    h('h1', { tabindex: -1 }, `Resolve log: ${webhook.name}`),
    h('p', { class: 'help' }, 'Every resolution a chat asked for, and every test, newest first; kept 30 days.'),
    h('div', { class: 'filters' },
      h('button', { type: 'button', onclick: async () => { await load(true); announce('Log refreshed.'); } }, 'Refresh')),
    list, more);
  await load(true);
}

function entry(e) {
  const answered = e.source === 'webhook';
  return h('section', { class: 'card entry', 'data-entry': e.id, 'aria-label': `${e.kind} at ${e.at}` },
    h('p', { class: 'summary' },
      h('span', { class: `badge ${answered ? 'succeeded' : 'failed'}` }, answered ? 'answered' : 'fallback'), ' ',
      e.kind === 'test' ? 'Test' : 'Resolution', ' at ', time(e.at), ` · ${e.attempts.length} tr${e.attempts.length === 1 ? 'y' : 'ies'} · ${e.durationMs} ms`),
    e.missingPlaceholders?.length ? h('p', {}, 'Placeholders without a value: ', e.missingPlaceholders.join(', ')) : null,
    attemptsTable(e.attempts, `Tries of the ${e.kind} at ${new Date(e.at).toLocaleString()}`));
}
