"""The WSGI example against a real `wxlogin serve --dev`: a valid token is accepted; expired,
other-audience and tampered ones are refused; a key rotation is survived.

    WXLOGIN_BIN=target/debug/wxlogin python -m unittest examples/verify/python/test_verify.py
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

from app import WxloginVerifier, make_app

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
APPID = "wx0000000000000001"
# Tokens live 4 s; a rotated-in key is published 3 s before it signs (JWKS max-age 2 s).
ENV = dict(
    os.environ,
    NO_COLOR="1",
    WXLOGIN__TOKENS__ACCESS_TTL_SECS="4",
    WXLOGIN__TOKENS__PUBLISH_DELAY_SECS="3",
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(what, check, seconds=15):
    """Polls `check` every 0.1 s until it returns a truthy value; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def request(url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return 0, None


def kid_of(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class VerifyTest(unittest.TestCase):
    def setUp(self):
        self.bin = os.environ.get("WXLOGIN_BIN", os.path.join(ROOT, "target", "debug", "wxlogin"))
        port, sim_port = free_port(), free_port()
        self.data = tempfile.mkdtemp(prefix="wxlogin-verify-py-")
        self.server = subprocess.Popen(
            [self.bin, "serve", "--dev", "--port", str(port), "--sim-port", str(sim_port),
             "--admin-port", "0", "--data-dir", self.data],
            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.issuer = f"http://127.0.0.1:{port}"
        self.sim = f"http://127.0.0.1:{sim_port}"
        eventually("wxlogin to answer", lambda: request(f"{self.issuer}/healthz")[0] == 200
                   and request(f"{self.sim}/_sim/v1/stats")[0] == 200)

    def tearDown(self):
        self.server.terminate()
        self.server.wait(timeout=10)
        shutil.rmtree(self.data, ignore_errors=True)

    def serve(self, audience="wxlogin"):
        # The JWKS max-age the test server sends: 2 s.
        verifier = WxloginVerifier(self.issuer, audience, jwks_max_age=2)
        httpd = make_server("127.0.0.1", 0, make_app(verifier),
                            handler_class=Quiet)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.shutdown)
        return f"http://127.0.0.1:{httpd.server_port}/orders"

    def post(self, url, body):
        status, json_body = request(url, body)
        self.assertIn(status, (200, 201), json_body)
        return json_body

    def sign_in(self):
        code = self.post(f"{self.sim}/_sim/v1/login_codes", {"appid": APPID, "user": "alice"})["code"]
        session = self.post(f"{self.issuer}/v1/login", {"code": code})["session"]
        pcode = self.post(f"{self.sim}/_sim/v1/phone_codes",
                          {"appid": APPID, "user": "alice", "phone": "+8613800138000"})["code"]
        ticket = self.post(f"{self.issuer}/v1/phone", {"session": session, "code": pcode})["registration_ticket"]
        return self.post(f"{self.issuer}/v1/register",
                         {"registration_ticket": ticket, "nickname": "Alice"})["tokens"]

    def test_valid_accepted_bad_refused_rotation_survived(self):
        orders, other = self.serve(), self.serve("another-service")
        tokens = self.sign_in()
        with urllib.request.urlopen(f"{self.issuer}/.well-known/jwks.json") as res:
            self.assertEqual(res.headers["Cache-Control"], "public, max-age=2")
            jwks = json.loads(res.read())
        self.assertEqual(jwks["keys"][0]["alg"], "ES256")

        status, body = request(orders, token=tokens["access_token"])
        self.assertEqual((status, body["appid"]), (200, APPID), body)
        self.assertEqual(request(other, token=tokens["access_token"])[0], 401, "other audience")

        head, payload, sig = tokens["access_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["sub"] = "someone-else"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        self.assertEqual(request(orders, token=f"{head}.{forged}.{sig}")[0], 401, "tampered")

        # Rotation: published first, then signing; every token in between verifies.
        out = subprocess.run([self.bin, "keys", "rotate", "--dev", "--data-dir", self.data],
                             env=ENV, check=True, capture_output=True, text=True).stdout
        new_kid = out.split("signing key ")[1].split(":")[0]
        self.assertNotEqual(new_kid, kid_of(tokens["access_token"]))
        current = dict(tokens)

        def signed_by_new_key():
            current.update(self.post(f"{self.issuer}/v1/token/refresh",
                                     {"refresh_token": current["refresh_token"]})["tokens"])
            status, body = request(orders, token=current["access_token"])
            self.assertEqual(status, 200, f"during the rotation: {body}")
            return kid_of(current["access_token"]) == new_kid

        eventually("a token signed by the new key", signed_by_new_key)

        # Expiry (tokens live 4 s here).
        eventually("the first token to expire",
                   lambda: request(orders, token=tokens["access_token"])[0] == 401)
        self.assertIn("ExpiredSignature", request(orders, token=tokens["access_token"])[1]["error"])


if __name__ == "__main__":
    unittest.main()
