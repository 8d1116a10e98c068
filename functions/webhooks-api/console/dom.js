// Building the page: elements are created, never parsed from strings, so nothing a webhook,
// a receiver or the URL bar holds can become markup.

/** `h('button', {type: 'button', onclick: f}, 'Save')`. Props set properties where the DOM
 *  has them (value, checked, disabled), attributes otherwise; null and false are skipped. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value == null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (['value', 'checked', 'disabled', 'selected', 'hidden'].includes(name)) el[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let ids = 0;
/** A fresh element id, for label/for and aria-describedby pairs. */
export const uid = (prefix) => `${prefix}-${++ids}`;

/** `<time>` with the local time shown and the exact instant in its attribute and title. */
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, d.toLocaleString());
}

/** Says `text` to screen readers and shows it in the status line. */
export function announce(text, kind = 'info') {
  const status = document.getElementById('status');
  if (!status) return;
  status.dataset.kind = kind;
  replace(status, text);
}

let next = '';
/** What to announce once the page that is being navigated to is shown. */
export function announceNext(text) { next = text; }
export function takeAnnouncement() { const t = next; next = ''; return t; }

/** JSON for a `<pre>`: pretty when it parses, as sent when it does not. */
export function pretty(value) {
  if (typeof value === 'string') {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
  }
  return JSON.stringify(value, null, 2);
}

/** One attempt as a table row: when, status, duration, error. */
export function attemptRow(a, withBody = false) {
  return h('tr', {},
    h('td', {}, time(a.at), a.manual ? ' (sent by hand)' : ''),
    h('td', {}, a.status ?? 'no answer'),
    h('td', {}, `${a.durationMs} ms`),
    h('td', {}, a.error ?? ''),
    withBody ? h('td', {}, a.responseBody ? h('pre', { class: 'body' }, a.responseBody) : '') : null);
}

export function attemptsTable(attempts, caption, withBody = false) {
  return h('table', { class: 'attempts' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {},
      ['Time', 'Status', 'Duration', 'Error'].map((t) => h('th', { scope: 'col' }, t)),
      withBody ? h('th', { scope: 'col' }, 'Response') : null)),
    h('tbody', {}, attempts.map((a) => attemptRow(a, withBody))));
}
