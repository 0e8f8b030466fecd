// The same middleware with `jose` (any runtime; verifies ES256, RS256 and EdDSA).
'use strict';

/**
 * requireWxloginJose({ issuer, audience, jwksMaxAgeMs }) -> express middleware; sets req.user.
 * jose keeps the JWKS 10 minutes by default, whatever its Cache-Control says, and refetches on
 * an unknown kid at most every 30 s: keep it to the JWKS max-age (300 s), which wxlogin's
 * rotation is built around.
 */
function requireWxloginJose({ issuer, audience, jwksMaxAgeMs = 300_000 }) {
  // jose is an ES module: load it once, on first use.
  const ready = import('jose').then(({ createRemoteJWKSet, jwtVerify }) => {
    const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`), {
      cacheMaxAge: jwksMaxAgeMs,
      cooldownDuration: Math.min(30_000, jwksMaxAgeMs),
    });
    return (token) => jwtVerify(token, jwks, { issuer, audience });
  });
  return (req, res, next) => {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    if (!match) return res.status(401).json({ error: 'missing bearer token' });
    ready
      .then((verify) => verify(match[1]))
      .then(({ payload }) => {
        req.user = payload;
        next();
      })
      .catch((err) => res.status(401).json({ error: err.code || err.message }));
  };
}

module.exports = { requireWxloginJose };
