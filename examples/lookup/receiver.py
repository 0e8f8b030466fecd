#!/usr/bin/env python3
"""A wxlogin `user.lookup` hook that verifies each request with the official Standard
Webhooks library (https://www.standardwebhooks.com, PyPI `standardwebhooks`).

    python3 -m pip install standardwebhooks
    LOOKUP_SECRET=whsec_... python3 receiver.py --port 8081

wxlogin asks it who a verified phone number belongs to before a new user registers:
POST {"type": "user.lookup", "data": {"phone": "+86...", "appid", "openid", "unionid"?}}.
It answers 200 {"external_id", "nickname"?} for a phone in USERS (or in --users FILE, a JSON
object of the same shape), 404 for any other, 401 when the signature does not verify, and
400 for a body that is not a lookup. On start it prints `listening on http://HOST:PORT`.
Answer well within wxlogin's budget (3 s): the user is waiting.
"""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

MAX_BODY = 64 * 1024

# Your existing user table, by E.164 phone number.
USERS = {
    "+8613800138000": {"external_id": "crm-1001", "nickname": "Li Lei"},
    "+8613900139000": {"external_id": "crm-1002"},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--users", help="a JSON file: {phone: {external_id, nickname?}}")
    args = parser.parse_args()

    secret = os.environ.get("LOOKUP_SECRET")
    if not secret:
        sys.exit("set LOOKUP_SECRET to the lookup hook's whsec_... secret")
    webhook = Webhook(secret)
    users = USERS
    if args.users:
        with open(args.users, encoding="utf-8") as f:
            users = json.load(f)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self.answer(413)
            body = self.rfile.read(length)
            try:
                request = webhook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError:
                return self.answer(401)
            if not isinstance(request, dict) or request.get("type") != "user.lookup":
                return self.answer(400)
            data = request.get("data")
            if not isinstance(data, dict):
                return self.answer(400)
            user = users.get(data.get("phone"))
            if user is None:
                return self.answer(404)
            self.answer(200, json.dumps(user).encode())

        def answer(self, status, body=b""):
            self.send_response(status)
            if body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            # The request line only: never the phone number.
            sys.stderr.write("lookup: " + (format % args) + "\n")

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
