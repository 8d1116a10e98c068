// The management API as the console uses it: same origin, the user's API key from this tab's
// session storage, a timeout on every call, and the API's error body as an exception.

const KEY = 'hookline.apiKey';
const TIMEOUT_MS = 30000;

/** The API beside the console: `.../console/api.js` → `.../api/v1/` (behind any prefix). */
const base = new URL('../api/v1/', import.meta.url);

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  signIn(key) { sessionStorage.setItem(KEY, key); },
  signOut() { sessionStorage.removeItem(KEY); },
};

/** An error answer: `type`, `message` and `field` exactly as the API reported them. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error.message);
    this.status = status;
    this.type = error.type;
    this.field = error.field ?? null;
  }
}

/** Calls the API; resolves to `{status, data, headers}` or throws an `ApiError`. */
export async function call(method, path, { body, headers = {}, signingIn = false } = {}) {
  const init = {
    method,
    cache: 'no-store',
    headers: { authorization: `Bearer ${session.key ?? ''}`, ...headers },
    signal: AbortSignal.timeout(TIMEOUT_MS),
  };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(new URL(path, base), init);
  } catch (e) {
    const message = e.name === 'TimeoutError'
      ? `the API did not answer within ${TIMEOUT_MS / 1000} s`
      : 'the API could not be reached';
    throw new ApiError(0, { type: 'ERROR_NETWORK', message });
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const error = data?.error ?? { type: 'ERROR_SERVER_ERROR', message: `the API answered ${res.status}` };
    // A key that stopped working mid-session sends the user back to sign in.
    if (res.status === 401 && !signingIn) window.dispatchEvent(new CustomEvent('hookline:unauthorized', { detail: error }));
    throw new ApiError(res.status, error);
  }
  return { status: res.status, data, headers: res.headers };
}

/** `webhook/{id}` with the id encoded (ids are ours, but the hash they come from is not). */
export const webhookPath = (id, rest = '') => `webhook/${encodeURIComponent(id)}${rest}`;

/** What the API says of itself, read once per page load (both answers need no key): the
 *  body formats, each flow's timeout range and default (the OpenAPI document), and the event
 *  types (the catalogue). The form offers these, so it never keeps a copy of its own. */
let contractRead = null;
export function contract() {
  contractRead ??= Promise.all([call('GET', 'openapi.json'), call('GET', 'event-types')])
    .then(([document, catalogue]) => {
      const schemas = document.data.components.schemas;
      const timeout = (schema) => {
        const t = schemas[schema].properties.timeoutMs;
        return { min: t.minimum, max: t.maximum, default: t.default };
      };
      return {
        formats: schemas.Format.enum,
        timeouts: { inbound: timeout('InboundWebhookCreate'), outbound: timeout('OutboundWebhookCreate') },
        events: catalogue.data.data.map(({ name, title, summary }) => ({ name, title, summary })),
      };
    })
    .catch((e) => { contractRead = null; throw e; });
  return contractRead;
}
