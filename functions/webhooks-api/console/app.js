// The console: routes (in the URL's #fragment, so the server serves one page), the sign-in
// form, and the page frame. Each page is a module that renders into <main>.

import { call, session, ApiError } from './api.js';
import { h, replace, announce, takeAnnouncement } from './dom.js';
import { listPage } from './webhooks.js';
import { formPage } from './form.js';
import { logPage } from './logs.js';

const main = document.getElementById('main');

const routes = [
  [/^#\/(?:\?.*)?$/, () => listPage(main)],
  [/^#\/new$/, () => formPage(main, null)],
  [/^#\/webhook\/([^/]+)$/, (id) => formPage(main, id)],
  [/^#\/webhook\/([^/]+)\/log$/, (id) => logPage(main, id)],
];

async function render() {
  document.getElementById('nav').hidden = !session.key;
  if (!session.key) return signInPage();
  const hash = location.hash || '#/';
  for (const [pattern, page] of routes) {
    const m = hash.match(pattern);
    if (m) {
      announce(takeAnnouncement());
      try {
        await page(...m.slice(1).map(decodeURIComponent));
      } catch (e) {
        showFailure(e);
      }
      // Move focus to the new page's heading, as a page load would.
      main.querySelector('h1')?.focus();
      return;
    }
  }
  replace(main, h('h1', { tabindex: -1 }, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the webhooks')));
}

function showFailure(e) {
  const message = e instanceof ApiError ? e.message : `the page failed: ${e.message}`;
  replace(main, h('h1', { tabindex: -1 }, 'Something went wrong'),
    h('p', { role: 'alert' }, message), h('p', {}, h('a', { href: '#/' }, 'Back to the webhooks')));
}

function signInPage(reason) {
  const input = h('input', { id: 'api-key', name: 'apiKey', type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'api-key-help' });
  const error = h('p', { id: 'api-key-error', class: 'error', hidden: !reason }, reason ?? '');
  const form = h('form', { class: 'card narrow', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: 'api-key' }, 'API key'),
      input,
      h('p', { id: 'api-key-help', class: 'help' },
        'Kept in this browser tab only, and sent only to this API. Operators issue keys with hookline-admin (or make api-key locally).'),
      error),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    session.signIn(key);
    try {
      await call('GET', 'webhook?limit=1', { signingIn: true });
      location.hash = '#/';
      await render();
    } catch (e) {
      session.signOut();
      error.hidden = false;
      error.textContent = e.message;
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', 'api-key-help api-key-error');
      input.focus();
    }
  });
  replace(main, h('h1', { tabindex: -1 }, 'Sign in to the Hookline console'), form);
  input.focus();
}

document.getElementById('sign-out').addEventListener('click', () => {
  session.signOut();
  location.hash = '#/';
  render();
});
window.addEventListener('hookline:unauthorized', () => {
  session.signOut();
  signInPage('The API key is no longer valid: sign in again.');
  document.getElementById('nav').hidden = true;
});
window.addEventListener('hashchange', render);
render();
