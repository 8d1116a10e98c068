// "Create Webhook" and the edit page: the fields of the product's settings page, "Test" with the
// Available Variables it discovers, the signing secret (shown once, rotated), and errors shown
// next to the field the API named. The API is the only validator: the form sends what the
// user typed and shows the API's answer (the one exception is fallback JSON that does not parse,
// since it cannot be sent as JSON at all).

import { call, contract, webhookPath, ApiError } from './api.js';
import { h, append, replace, uid, announce, announceNext, pretty, attemptsTable } from './dom.js';

/** A body format's label: `JSON`, `XML`, `x-www-form-urlencoded`. */
const formatLabel = (mime) => {
  const subtype = mime.split('/')[1] ?? mime;
  return subtype.length <= 4 ? subtype.toUpperCase() : subtype;
};
const SECURITY = [
  ['hmac', 'HMAC signature'],
  ['basic', 'Basic auth'],
  ['bearer', 'Bearer token'],
  ['header', 'Custom header'],
  ['none', 'None'],
];
/** The credential inputs of each security type: [field name, label, is a secret]. */
const CREDENTIALS = {
  hmac: [['secret', 'Signing secret', true]],
  basic: [['username', 'Username', false], ['password', 'Password', true]],
  bearer: [['token', 'Token', true]],
  header: [['name', 'Header name', false], ['value', 'Header value', true]],
  none: [],
};
/** The headings of the event checkboxes, by the event name's first part; a part not named
 *  here gets a heading of its own. */
const EVENT_GROUPS = { case: 'Case Trigger Events', agent: 'Operator Trigger Events' };
const groupOf = (event) => event.split(':')[0];
const groupTitle = (prefix) => EVENT_GROUPS[prefix] ?? `${prefix[0].toUpperCase()}${prefix.slice(1)} Trigger Events`;

export async function formPage(main, id) {
  const [saved, offered] = await Promise.all([
    id ? call('GET', webhookPath(id)).then((r) => r.data) : null,
    contract(),
  ]);
  replace(main, new WebhookForm(saved, offered).element);
}

/** A URL's scheme, host and port (placeholders blanked, as the API reads it), or null. */
function originOf(url) {
  try {
    return new URL(url.replaceAll('{{', '').replaceAll('}}', '')).origin;
  } catch {
    return null;
  }
}

class WebhookForm {
  /** `offered`: the formats, timeouts and event types the API takes (`contract()`). */
  constructor(saved, offered) {
    this.saved = saved;
    this.offered = offered;
    this.variables = new Map((saved?.variables ?? []).map((v) => [v, true]));
    this.element = this.render();
    this.showFlow();
  }

  get creating() { return !this.saved; }
  /** Whether the URL now names another origin than the saved one (the API then wants the
   *  credentials given again rather than the stored ones kept). */
  get moved() {
    return !!this.saved && originOf(this.url.value.trim()) !== originOf(this.saved.url);
  }
  get flow() {
    return this.saved?.flow ?? this.form.querySelector('input[name="flow"]:checked')?.value ?? 'inbound';
  }

  render() {
    const s = this.saved;
    this.form = h('form', { class: 'webhook', novalidate: true, 'aria-labelledby': 'form-title' });
    this.alert = h('div', { class: 'form-alert', role: 'alert', tabindex: -1, hidden: true });

    this.name = h('input', { type: 'text', value: s?.name ?? '', autocomplete: 'off' });
    this.format = select(this.offered.formats.map((f) => [f, formatLabel(f)]), s?.format ?? 'application/json');
    this.email = h('input', { type: 'email', value: s?.notificationEmail ?? '', autocomplete: 'email' });
    this.url = h('input', { type: 'url', value: s?.url ?? '', autocomplete: 'off', spellcheck: 'false' });
    this.timeout = h('input', { type: 'text', inputmode: 'numeric', value: s?.timeoutMs ?? '' });
    this.securityType = select(SECURITY, s?.security.type ?? 'hmac');
    this.credentials = h('div', { class: 'credentials' });
    this.securityType.addEventListener('change', () => this.showCredentials());
    this.url.addEventListener('input', () => {
      this.showSampleInputs();
      // Stored credentials stay with their origin: a URL moved elsewhere needs them again.
      if (this.moved !== this.shownMoved) this.showCredentials();
    });

    const flowChoice = s
      ? field('flow', 'Webhook Flow', h('input', { type: 'text', value: s.flow === 'inbound' ? 'Inbound' : 'Outbound', readonly: true }),
        'The flow is fixed once a webhook is created.')
      : radios('flow', 'Webhook Flow', [['inbound', 'Inbound'], ['outbound', 'Outbound']], 'inbound', () => this.showFlow());

    this.inbound = h('section', { class: 'flow-part', 'aria-labelledby': 'inbound-title' });
    this.outbound = h('section', { class: 'flow-part', 'aria-labelledby': 'outbound-title' });
    this.renderInbound();
    this.renderOutbound();

    append(this.form, [
      this.alert,
      field('name', 'Webhook Name', this.name),
      flowChoice,
      field('format', 'Format', this.format),
      radios('status', 'Status', [['active', 'Active'], ['inactive', 'Inactive']], s?.status ?? 'active'),
      h('fieldset', { class: 'field', 'data-field': 'security' },
        h('legend', {}, 'Security'),
        field('security.type', 'Type', this.securityType),
        this.credentials,
        errorSlot()),
      field('notificationEmail', 'Email address', this.email, 'Should the webhook fail, a notification is sent to this address.'),
      field('url', 'Webhook URL', this.url, 'https://… Inbound URLs may hold {{variable}} placeholders.'),
      field('timeoutMs', 'Timeout (ms)', this.timeout, this.timeoutHelp()),
      this.inbound,
      this.outbound,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'primary' }, this.creating ? 'Create' : 'Save'),
        h('a', { href: '#/' }, 'Cancel'))]);
    this.form.addEventListener('submit', (ev) => { ev.preventDefault(); this.save(); });
    this.showCredentials();

    return h('div', {},
      h('h1', { id: 'form-title', tabindex: -1 }, this.creating ? 'Create Webhook' : `Edit webhook: ${s.name}`),
      s ? this.renderSavedFacts() : null,
      this.form,
      s && s.security.type === 'hmac' ? this.renderSecret() : null,
      s ? this.renderDelete() : null);
  }

  renderSavedFacts() {
    const s = this.saved;
    return h('p', { class: 'facts' },
      h('span', {}, 'Id ', h('code', {}, s.id)), ' · ', h('span', {}, `version ${s.version}`), ' · ',
      h('a', { href: `#/webhook/${encodeURIComponent(s.id)}/log` }, s.flow === 'inbound' ? 'Resolve log' : 'Deliveries'));
  }

  // ------------------------------------------------------------------ inbound
  renderInbound() {
    const s = this.saved;
    this.method = select([['GET', 'GET'], ['POST', 'POST']], s?.method ?? 'GET');
    this.samples = h('div', { class: 'samples' });
    this.testResult = h('div', { class: 'test-result', 'aria-live': 'polite' });
    this.variableList = h('ul', { class: 'checks' });
    this.customVariable = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
    this.customVariable.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') { ev.preventDefault(); this.addCustomVariable(); }
    });
    const fallback = s?.fallbackResponse;
    this.fallback = h('textarea', { rows: 6, spellcheck: 'false', value: fallback === undefined ? '' : JSON.stringify(fallback, null, 2) });

    append(this.inbound, [
      h('h2', { id: 'inbound-title' }, 'Inbound: data for the chat'),
      field('method', 'Request method', this.method),
      h('fieldset', { class: 'test' },
        h('legend', {}, 'Test the URL'),
        h('p', { class: 'help' }, 'Calls the URL once, as a chat would, and lists the variables found in its answer. Nothing is saved.'),
        this.samples,
        h('button', { type: 'button', onclick: () => this.test() }, 'Test URL'),
        this.testResult),
      h('fieldset', { class: 'field', 'data-field': 'variables' },
        h('legend', {}, 'Available Variables'),
        h('p', { class: 'help' }, 'Ticked variables are saved and given to the chat.'),
        this.variableList,
        h('div', { class: 'field inline' },
          h('label', { for: this.customVariable.id = uid('custom-variable') }, 'Add more variables'),
          this.customVariable,
          h('button', { type: 'button', onclick: () => this.addCustomVariable() }, 'Add')),
        errorSlot()),
      field('fallbackResponse', 'Fallback response, when webhook URL fails', this.fallback,
        'Any JSON. The chat gets it when three tries bring no valid answer.')]);
    this.showVariables();
    this.showSampleInputs();
  }

  showSampleInputs() {
    const previous = Object.fromEntries([...this.samples.querySelectorAll('input')].map((i) => [i.dataset.name, i.value]));
    const names = [...new Set([...this.url.value.matchAll(/\{\{\s*([^{}]+?)\s*\}\}/g)].map((m) => m[1]))];
    replace(this.samples, names.length
      ? names.map((name) => {
        const input = h('input', { type: 'text', id: uid('sample'), value: previous[name] ?? '', autocomplete: 'off' });
        input.dataset.name = name;
        return h('div', { class: 'field' }, h('label', { for: input.id }, `Sample value of {{${name}}}`), input);
      })
      : h('p', { class: 'help' }, 'The URL has no {{placeholders}}: no sample values needed.'));
  }

  sampleVariables() {
    return Object.fromEntries([...this.samples.querySelectorAll('input')].map((i) => [i.dataset.name, i.value]));
  }

  showVariables() {
    replace(this.variableList, [...this.variables].map(([path, checked]) => {
      const box = h('input', { type: 'checkbox', id: uid('variable'), checked, value: path });
      box.addEventListener('change', () => this.variables.set(path, box.checked));
      return h('li', {}, box, h('label', { for: box.id }, h('code', {}, path)));
    }));
    if (!this.variables.size) append(this.variableList, [h('li', { class: 'muted' }, 'None yet: test the URL, or add your own.')]);
  }

  addCustomVariable() {
    const path = this.customVariable.value.trim();
    if (!path) return;
    this.variables.set(path, true);
    this.customVariable.value = '';
    this.showVariables();
    announce(`Added the variable ${path}.`);
    this.customVariable.focus();
  }

  /** Each flow's range and default, as the API states them. */
  timeoutHelp() {
    const { inbound, outbound } = this.offered.timeouts;
    const range = (t) => `${t.min}–${t.max} (default ${t.default})`;
    return `Per request. Inbound ${range(inbound)}; outbound ${range(outbound)}.`;
  }

  // ------------------------------------------------------------------ outbound
  renderOutbound() {
    const chosen = new Set(this.saved?.events ?? []);
    const group = (title, events) => h('fieldset', {},
      h('legend', {}, title),
      h('ul', { class: 'checks' }, events.map(([event, label]) => {
        const box = h('input', { type: 'checkbox', name: 'events', value: event, id: uid('event'), checked: chosen.has(event) });
        return h('li', {}, box, h('label', { for: box.id }, label, ' ', h('code', {}, event)));
      })));
    this.outboundResult = h('div', { class: 'test-result', 'aria-live': 'polite' });
    append(this.outbound, [
      h('h2', { id: 'outbound-title' }, 'Outbound: events sent to the URL'),
      h('div', { class: 'field', 'data-field': 'events' },
        [...new Set(this.offered.events.map((e) => groupOf(e.name)))].map((prefix) => group(groupTitle(prefix),
          this.offered.events.filter((e) => groupOf(e.name) === prefix).map((e) => [e.name, e.title]))),
        errorSlot()),
      h('fieldset', { class: 'test' },
        h('legend', {}, 'Test the URL'),
        h('p', { class: 'help' }, 'Sends one signed sample event to the URL as the form shows it. Nothing is saved. Before the webhook is created, an HMAC signature uses a throwaway secret unless you typed one.'),
        h('button', { type: 'button', onclick: () => this.test() }, 'Send test event'),
        this.outboundResult)]);
  }

  showFlow() {
    const inbound = this.flow === 'inbound';
    this.inbound.hidden = !inbound;
    this.outbound.hidden = inbound;
  }

  // ------------------------------------------------------------------ security
  showCredentials() {
    const type = this.securityType.value;
    const saved = this.saved?.security;
    const same = saved?.type === type;
    const moved = this.moved;
    this.shownMoved = moved;
    const typed = new Map([...this.credentials.querySelectorAll('[data-credential]')]
      .map((i) => [i.dataset.credential, i.value]));
    replace(this.credentials, CREDENTIALS[type].map(([name, label, secret]) => {
      if (type === 'hmac' && same && !moved) {
        return h('p', { class: 'help' }, 'Signing secret ', h('code', {}, saved.secret),
          '. Rotate it below to get a new one; it is never shown again after creation.');
      }
      const input = h('input', {
        type: secret ? 'password' : 'text', autocomplete: 'off', spellcheck: 'false',
        value: typed.get(name) ?? (same && !secret ? saved[name] : ''),
      });
      input.dataset.credential = name;
      let help = null;
      if (same && secret && moved) {
        help = type === 'hmac'
          ? 'The URL moves to another host: enter the signing secret again, or a new one.'
          : 'The URL moves to another host: enter it again (saved credentials stay with the old one).';
      } else if (type === 'hmac') help = 'Leave empty to have one generated (shown once, after saving).';
      else if (same && secret) help = 'Leave empty to keep the current value.';
      return field(`security.${name}`, label, input, help);
    }));
  }

  security() {
    const type = this.securityType.value;
    const saved = this.saved?.security;
    const out = { type };
    for (const [name] of CREDENTIALS[type]) {
      const input = this.credentials.querySelector(`[data-credential="${name}"]`);
      const value = input?.value ?? '';
      // A masked value sent back means "keep" to the API.
      if (value === '' && saved?.type === type) out[name] = saved[name];
      else if (value !== '' || type !== 'hmac') out[name] = value;
    }
    return out;
  }

  // ------------------------------------------------------------------ reading the form
  /** The request body, as a create or PUT expects it. `forTest` leaves out what a call does not
   *  use and might not parse yet (the fallback). */
  body({ forTest = false } = {}) {
    const b = {
      name: this.name.value.trim(),
      format: this.format.value,
      status: this.form.querySelector('input[name="status"]:checked')?.value,
      security: this.security(),
      notificationEmail: this.email.value.trim(),
      url: this.url.value.trim(),
    };
    if (this.creating) {
      b.flow = this.flow;
      // Left empty on a new webhook is "not given": the API answers "is required". (On an
      // edit, an emptied field is sent, and the API says what is wrong with it.)
      for (const k of ['name', 'notificationEmail', 'url']) if (b[k] === '') delete b[k];
    }
    const timeout = this.timeout.value.trim();
    // Numbers go as numbers; anything else as typed, so the API names what is wrong with it.
    if (timeout) b.timeoutMs = /^\d+$/.test(timeout) ? Number(timeout) : timeout;
    if (forTest) {
      for (const k of ['name', 'notificationEmail']) if (!b[k]) delete b[k];
    }
    if (this.flow === 'inbound') {
      b.method = this.method.value;
      b.variables = [...this.variables].filter(([, on]) => on).map(([p]) => p);
      const text = this.fallback.value.trim();
      if (text) {
        try {
          b.fallbackResponse = JSON.parse(text);
        } catch (e) {
          if (!forTest) throw new FormError('fallbackResponse', `is not valid JSON: ${e.message}`);
        }
      }
    } else {
      b.events = [...this.form.querySelectorAll('input[name="events"]:checked')].map((i) => i.value);
      if (forTest && !b.events.length) delete b.events;
    }
    return b;
  }

  // ------------------------------------------------------------------ actions
  async save() {
    this.clearErrors();
    let body;
    try {
      body = this.body();
    } catch (e) {
      return this.showError(e);
    }
    const submit = this.form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      if (this.creating) {
        const { data } = await call('POST', 'webhook', { body });
        if (data.security.type === 'hmac') {
          showSecretOnce(data.security.secret, 'Webhook created', () => {
            announceNext(`Webhook "${data.name}" created.`);
            location.hash = `#/webhook/${encodeURIComponent(data.id)}`;
          });
        } else {
          announceNext(`Webhook "${data.name}" created.`);
          location.hash = `#/webhook/${encodeURIComponent(data.id)}`;
        }
        return;
      }
      const switchedToHmac = body.security.type === 'hmac' && this.saved.security.type !== 'hmac' && !body.security.secret;
      let { data } = await call('PUT', webhookPath(this.saved.id), {
        body, headers: { 'if-match': `"${this.saved.version}"` },
      });
      if (switchedToHmac) {
        // The API made a secret nobody has seen: rotate once to show one.
        ({ data } = await call('POST', webhookPath(data.id, '/rotate-secret'), { headers: { 'if-match': `"${data.version}"` } }));
        showSecretOnce(data.security.secret, 'HMAC signing is on', () => formPage(document.getElementById('main'), data.id));
        return;
      }
      await formPage(document.getElementById('main'), data.id);
      announce(`Saved: version ${data.version}.`);
      document.getElementById('form-title')?.focus();
    } catch (e) {
      this.showError(e);
    } finally {
      submit.disabled = false;
    }
  }

  async test() {
    this.clearErrors();
    const inbound = this.flow === 'inbound';
    const out = inbound ? this.testResult : this.outboundResult;
    replace(out, h('p', { class: 'muted' }, 'Calling the URL…'));
    const request = { webhook: this.body({ forTest: true }) };
    if (inbound) request.variables = this.sampleVariables();
    try {
      const path = this.saved ? webhookPath(this.saved.id, '/test') : 'webhook/test';
      const { data } = await call('POST', path, { body: request });
      replace(out, testOutcome(data));
      if (inbound) {
        for (const path of data.discoveredVariables ?? []) if (!this.variables.has(path)) this.variables.set(path, false);
        this.showVariables();
        const found = data.discoveredVariables?.length ?? 0;
        announce(data.ok ? `The URL answered; ${found} variable${found === 1 ? '' : 's'} found.` : 'The URL did not give a valid answer.');
      } else {
        announce(data.ok ? 'The test event was accepted.' : 'The test event was not accepted.');
      }
    } catch (e) {
      replace(out, h('p', { class: 'error' }, `Not tested: ${e.message}`));
      if (e instanceof ApiError && e.field?.startsWith('webhook')) this.showError(e, 'Not tested');
    }
  }

  // ------------------------------------------------------------------ errors
  clearErrors() {
    announce(''); // an earlier "Saved" no longer describes the form
    this.alert.hidden = true;
    replace(this.alert);
    for (const el of this.form.querySelectorAll('.error')) { el.hidden = true; el.textContent = ''; }
    for (const el of this.form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }

  /** Shows an API (or fallback JSON) error next to the field it names. */
  showError(e, outcome = 'Not saved') {
    // A 409 that names a field is that field's conflict with the webhook as it is (credentials
    // to give again for a new origin, say): shown beside it. One without is a stale version.
    if (e instanceof ApiError && e.status === 409 && !e.field) {
      this.formAlert(e.message, h('button', { type: 'button', onclick: () => formPage(document.getElementById('main'), this.saved?.id) }, 'Reload'));
      return this.alert.focus();
    }
    if (!(e instanceof ApiError || e instanceof FormError)) throw e;
    const wrapper = e.field ? fieldFor(this.form, e.field) : null;
    if (!wrapper) {
      // Nothing to point at (a read-only key, an outage): bring the message into view.
      this.formAlert(`${outcome}: ${e.message}`);
      return this.alert.focus();
    }
    const slot = wrapper.querySelector(':scope > .error');
    slot.hidden = false;
    slot.textContent = e.message;
    const control = wrapper.querySelector('input:not([type="hidden"]), select, textarea');
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      const described = (control.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean);
      if (!described.includes(slot.id)) control.setAttribute('aria-describedby', [...described, slot.id].join(' '));
      control.focus();
    }
    const label = wrapper.querySelector('label, legend')?.textContent ?? e.field;
    this.formAlert(`${outcome}. ${label}: ${e.message}`);
  }

  formAlert(message, ...extra) {
    this.alert.hidden = false;
    replace(this.alert, h('p', {}, message), extra);
  }

  // ------------------------------------------------------------------ secret and delete
  renderSecret() {
    const s = this.saved;
    const overlap = s.security.previousSecretExpiresAt;
    return h('section', { class: 'card', 'aria-labelledby': 'secret-title' },
      h('h2', { id: 'secret-title' }, 'Signing secret'),
      h('p', {}, 'Current secret ', h('code', {}, s.security.secret), '.',
        overlap ? ` The previous secret also signs until ${new Date(overlap).toLocaleString()}.` : ''),
      confirmButton('Rotate secret', 'A new secret signs from now on; the current one keeps signing for 24 hours, so receivers can switch.', 'Rotate now', async () => {
        const { data } = await call('POST', webhookPath(s.id, '/rotate-secret'), { headers: { 'if-match': `"${s.version}"` } });
        showSecretOnce(data.security.secret, 'Secret rotated', () => formPage(document.getElementById('main'), s.id));
      }));
  }

  renderDelete() {
    const s = this.saved;
    return h('section', { class: 'card danger', 'aria-labelledby': 'delete-title' },
      h('h2', { id: 'delete-title' }, 'Delete'),
      confirmButton('Delete webhook', `"${s.name}" and its settings are removed; its logs expire on their own.`, 'Delete now', async () => {
        await call('DELETE', webhookPath(s.id), { headers: { 'if-match': `"${s.version}"` } });
        announceNext(`Webhook "${s.name}" deleted.`);
        location.hash = '#/';
      }));
  }
}

class FormError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

/** The wrapper of the field an error names: `webhook.url` → url, `events[1]` → events,
 *  `security.password` → that input, else its group (`security`). */
function fieldFor(form, name) {
  const bare = name.replace(/^webhook\./, '').replace(/\[\d+\]$/, '');
  const candidates = [bare, bare.split('.')[0]];
  for (const c of candidates) {
    const el = form.querySelector(`[data-field="${CSS.escape(c)}"]`);
    if (el && !el.closest('[hidden]')) return el;
  }
  return null;
}

function errorSlot() {
  return h('p', { class: 'error', id: uid('error'), hidden: true });
}

/** A labelled control with its help text and error slot. */
function field(name, label, control, help) {
  control.id ||= uid(`f-${name.replace(/\W/g, '-')}`);
  control.name ||= name;
  const helpEl = help ? h('p', { class: 'help', id: uid('help') }, help) : null;
  if (helpEl) control.setAttribute('aria-describedby', helpEl.id);
  return h('div', { class: 'field', 'data-field': name }, h('label', { for: control.id }, label), control, helpEl, errorSlot());
}

function radios(name, legend, options, current, onchange) {
  return h('fieldset', { class: 'field radios', 'data-field': name },
    h('legend', {}, legend),
    options.map(([value, label]) => {
      const input = h('input', { type: 'radio', name, value, id: uid(`r-${name}`), checked: value === current });
      if (onchange) input.addEventListener('change', onchange);
      return h('span', { class: 'radio' }, input, h('label', { for: input.id }, label));
    }),
    errorSlot());
}

function select(options, current) {
  return h('select', {}, options.map(([value, label]) => h('option', { value, selected: value === current }, label)));
}

/** A button that asks once more, inline (no browser dialog), before it acts. */
function confirmButton(label, question, yes, action) {
  const wrap = h('div', { class: 'confirm' });
  const ask = h('button', { type: 'button' }, label);
  const error = h('p', { class: 'error', hidden: true, role: 'alert' });
  const panel = h('div', { class: 'confirm-panel', hidden: true },
    h('p', {}, question),
    h('button', {
      type: 'button', class: 'primary', onclick: async (ev) => {
        ev.target.disabled = true;
        try { await action(); } catch (e) { error.hidden = false; error.textContent = e.message; ev.target.disabled = false; }
      },
    }, yes),
    h('button', { type: 'button', onclick: () => { panel.hidden = true; ask.hidden = false; ask.focus(); } }, 'Cancel'),
    error);
  ask.addEventListener('click', () => { ask.hidden = true; panel.hidden = false; panel.querySelector('button').focus(); });
  append(wrap, [ask, panel]);
  return wrap;
}

/** What one test call gave: the attempt, the answer, what was missing. */
function testOutcome(data) {
  const a = data.attempt;
  const summary = data.ok
    ? `The URL answered ${a.status} in ${a.durationMs} ms.`
    : `No valid answer: ${a.error ?? `status ${a.status}`}.`;
  return h('div', { class: data.ok ? 'ok' : 'failed' },
    h('p', { class: 'summary' }, summary),
    data.missingPlaceholders?.length ? h('p', {}, 'Placeholders without a value: ', data.missingPlaceholders.join(', ')) : null,
    data.data !== undefined && data.data !== null
      ? [h('p', {}, 'Response'), h('pre', { class: 'body', tabindex: 0, 'aria-label': 'Response' }, pretty(data.data))]
      : a.responseBody ? [h('p', {}, 'Response'), h('pre', { class: 'body', tabindex: 0, 'aria-label': 'Response' }, pretty(a.responseBody))] : null,
    attemptsTable([a], 'The call'));
}

/** The signing secret, in full, this one time; Copy puts it on the clipboard. */
function showSecretOnce(secret, title, done) {
  const code = h('code', { id: 'secret-value' }, secret);
  const copied = h('p', { class: 'muted', 'aria-live': 'polite' });
  const dialog = h('dialog', { class: 'secret', 'aria-labelledby': 'secret-dialog-title', 'aria-describedby': 'secret-dialog-text' },
    h('h2', { id: 'secret-dialog-title' }, title),
    h('p', { id: 'secret-dialog-text' }, 'Copy the signing secret now: it is shown only this once. Receivers verify the signature headers with it.'),
    h('p', { class: 'secret-value' }, code),
    h('div', { class: 'actions' },
      h('button', {
        type: 'button', class: 'primary', onclick: async () => {
          try {
            await navigator.clipboard.writeText(secret);
            copied.textContent = 'Copied to the clipboard.';
          } catch {
            getSelection().selectAllChildren(code);
            copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
          }
        },
      }, 'Copy'),
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Done')),
    copied);
  dialog.addEventListener('close', () => { dialog.remove(); done(); });
  document.body.append(dialog);
  dialog.showModal();
}
