// Express middleware that verifies wxlogin access tokens with `jsonwebtoken` + `jwks-rsa`:
// the stack under express-jwt, koa-jwt, egg-jwt and @nestjs/jwt.
'use strict';

const jwt = require('jsonwebtoken');
const jwksRsa = require('jwks-rsa');

/**
 * requireWxlogin({ issuer, audience, jwksMaxAgeMs }) -> express middleware; sets req.user to
 * the claims.
 * The JWKS is cached (jwks-rsa keeps it and refetches on an unknown kid, at most 10 a minute).
 */
function requireWxlogin({ issuer, audience, algorithms = ['ES256', 'RS256', 'EdDSA'], jwksMaxAgeMs = 300_000 }) {
  const client = jwksRsa({
    jwksUri: `${issuer}/.well-known/jwks.json`,
    cache: true,
    cacheMaxAge: jwksMaxAgeMs, // the JWKS max-age
    rateLimit: true,
    jwksRequestsPerMinute: 10,
  });
  const getKey = (header, done) =>
    client.getSigningKey(header.kid).then((key) => done(null, key.getPublicKey()), done);
  // jsonwebtoken 9 has no EdDSA: a deployment with tokens.algorithm = "EdDSA" uses jose.
  const allowed = algorithms.filter((a) => a !== 'EdDSA');
  return (req, res, next) => {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    if (!match) return res.status(401).json({ error: 'missing bearer token' });
    jwt.verify(match[1], getKey, { issuer, audience, algorithms: allowed }, (err, claims) => {
      if (err) return res.status(401).json({ error: err.message });
      req.user = claims;
      next();
    });
  };
}

module.exports = { requireWxlogin };
