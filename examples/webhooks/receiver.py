#!/usr/bin/env python3
"""A wxlogin webhook receiver that verifies every delivery with the official Standard
Webhooks library (https://www.standardwebhooks.com, PyPI `standardwebhooks`).

    python3 -m pip install standardwebhooks
    WEBHOOK_SECRET=whsec_... python3 receiver.py --port 8080 --out events.jsonl

It answers 204 to a delivery whose signature verifies (and 401 to one that does not), and
appends each verified event to --out (default: stdout) as one JSON line, once per event id:
wxlogin delivers at least once, so a repeat of an id already seen is acknowledged and
dropped. --fail-first N answers 500 to the first N verified deliveries, to watch the retry
schedule. On start it prints `listening on http://HOST:PORT` (with --port 0, the port the
system chose).
"""

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

MAX_BODY = 1024 * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--out", help="append verified events here (default: stdout)")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N",
                        help="answer 500 to the first N verified deliveries")
    args = parser.parse_args()

    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        sys.exit("set WEBHOOK_SECRET to the endpoint's whsec_... secret")
    webhook = Webhook(secret)
    out = open(args.out, "a", encoding="utf-8") if args.out else sys.stdout
    lock = threading.Lock()
    state = {"to_fail": args.fail_first, "seen": set()}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self.answer(413)
            body = self.rfile.read(length)
            try:
                event = webhook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError:
                return self.answer(401)
            with lock:
                if state["to_fail"] > 0:
                    state["to_fail"] -= 1
                    return self.answer(500)
                msg_id = self.headers["webhook-id"]
                if msg_id not in state["seen"]:
                    state["seen"].add(msg_id)
                    out.write(json.dumps(event, separators=(",", ":")) + "\n")
                    out.flush()
            self.answer(204)

        def answer(self, status):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            sys.stderr.write("receiver: " + (format % args) + "\n")

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
