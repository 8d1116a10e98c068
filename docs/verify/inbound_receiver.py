"""An inbound webhook's receiver that checks Hookline's `hookline-signature` before it answers.

    WEBHOOK_SECRET=whsec_... PORT=8000 python3 inbound_receiver.py

`verify()` is the part to copy: it needs only the standard library. The rest is a tiny server
that answers a signed request with an order's status and anything else with 401.
`make test` runs this file as an inbound webhook's URL (tests/verifiers.rs).
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

TOLERANCE_SECONDS = 300


def signing_key(secret: str) -> bytes:
    """The HMAC key: the base64 after `whsec_`, else the secret's own bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_"):], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def verify(secret, method, target, headers, body, now=None):
    """Whether a request is Hookline's, unchanged and recent.

    `target` is the path and query exactly as received (`/orders?email=ada%40example.com`),
    `headers` any mapping whose `get` finds lowercase names, `body` the raw bytes (b"" for GET).
    """
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("hookline-signature")
    if not (msg_id and timestamp and signatures):
        return False
    # ASCII digits only ("²".isdigit() is true too), and bytes compared below: a header may
    # hold anything a client sends.
    if not (timestamp.isascii() and timestamp.isdigit()):
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = "\n".join(["hookline-v1", method, target, msg_id, timestamp, ""]).encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    expected = b"v1," + base64.b64encode(digest)
    # During a secret rotation several signatures come, separated by spaces: one must match.
    given = signatures.encode("utf-8", "surrogateescape").split(b" ")
    return any(hmac.compare_digest(expected, one) for one in given)


class Handler(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        if not verify(os.environ["WEBHOOK_SECRET"], self.command, self.path, self.headers, body):
            self.send_response(401)
            self.end_headers()
            return
        payload = json.dumps({"order": {"status": "shipped"}, "verifiedTarget": self.path}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Handler)
    print(f"listening on {server.server_port}", flush=True)
    server.serve_forever()
