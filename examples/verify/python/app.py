"""A WSGI back end that trusts wxlogin access tokens, verified with PyJWT's PyJWKClient.

    WXLOGIN_ISSUER=http://127.0.0.1:9012 python app.py    # serves on :8000
    curl -H "Authorization: Bearer $TOKEN" localhost:8000/orders
"""

import json
import os
from wsgiref.simple_server import make_server

import jwt

ALGORITHMS = ["ES256", "RS256", "EdDSA"]


class WxloginVerifier:
    """Verifies a bearer token: signature (key by kid from the JWKS), iss, aud, exp."""

    def __init__(self, issuer, audience="wxlogin", jwks_max_age=300):
        self.issuer = issuer
        self.audience = audience
        # Keeps the JWKS for its max-age (300 s), which wxlogin's rotation is built around;
        # refetches on an unknown kid at most every 30 s (or max-age, if shorter).
        self.jwks = jwt.PyJWKClient(
            f"{issuer}/.well-known/jwks.json",
            lifespan=jwks_max_age,
            cooldown_duration=min(30, jwks_max_age),
        )

    def verify(self, token):
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,
            issuer=self.issuer,
            audience=self.audience,
            options={"require": ["exp", "iat", "sub"]},
        )


def make_app(verifier):
    """A WSGI app with one protected route, /orders."""

    def app(environ, start_response):
        def reply(status, body):
            data = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json")])
            return [data]

        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer "):
            return reply("401 Unauthorized", {"error": "missing bearer token"})
        try:
            claims = verifier.verify(header[len("Bearer "):])
        except jwt.PyJWTError as e:
            return reply("401 Unauthorized", {"error": f"{type(e).__name__}: {e}"})
        return reply("200 OK", {"user": claims["sub"], "appid": claims["appid"]})

    return app


if __name__ == "__main__":
    issuer = os.environ.get("WXLOGIN_ISSUER", "http://127.0.0.1:9012")
    make_server("127.0.0.1", 8000, make_app(WxloginVerifier(issuer))).serve_forever()
