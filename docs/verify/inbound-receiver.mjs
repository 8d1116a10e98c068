// An inbound webhook's receiver that checks Hookline's `hookline-signature` before it answers.
//
//     WEBHOOK_SECRET=whsec_... PORT=8000 node inbound-receiver.mjs
//
// `verify()` is the part to copy: it needs only Node's own modules. The rest is a tiny server
// that answers a signed request with an order's status and anything else with 401.
// `make test` runs this file as an inbound webhook's URL (tests/verifiers.rs).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

const TOLERANCE_SECONDS = 300;

/** The HMAC key: the base64 after `whsec_`, else the secret's own bytes. */
function signingKey(secret) {
  const b64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : null;
  if (b64 !== null && /^[A-Za-z0-9+/]*={0,2}$/.test(b64) && b64.length % 4 === 0) {
    return Buffer.from(b64, 'base64');
  }
  return Buffer.from(secret, 'utf8');
}

/** Whether a request is Hookline's, unchanged and recent. `target` is the path and query
 *  exactly as received (Node's `req.url`), `headers` Node's lowercase header object, `body` a
 *  Buffer of the raw bytes (empty for GET). */
export function verify(secret, method, target, headers, body, now = Date.now() / 1000) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['hookline-signature'];
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const signed = Buffer.concat([
    Buffer.from(['hookline-v1', method, target, id, timestamp, ''].join('\n'), 'utf8'),
    body,
  ]);
  const expected = Buffer.from(
    'v1,' + createHmac('sha256', signingKey(secret)).update(signed).digest('base64'), 'utf8');
  // During a secret rotation several signatures come, separated by spaces: one must match.
  return signatures.split(' ').some((given) => {
    const candidate = Buffer.from(given, 'utf8');
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  });
}

function serve() {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (!verify(process.env.WEBHOOK_SECRET, req.method, req.url, req.headers, body)) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ order: { status: 'shipped' }, verifiedTarget: req.url }));
    });
  });
  server.listen(Number(process.env.PORT ?? 8000), '127.0.0.1', () => {
    console.log(`listening on ${server.address().port}`);
  });
}

// Serve when run, not when imported for `verify`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) serve();
