// Both middlewares against a real `wxlogin serve --dev`: a valid token is accepted; expired,
// other-audience and tampered ones are refused; a key rotation is survived.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { app } = require('../server');
const { startServer, eventually, kidOf } = require('../testkit');

async function listen(expressApp) {
  return new Promise((resolve) => {
    const srv = expressApp.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

async function call(srv, token) {
  const res = await fetch(`http://127.0.0.1:${srv.address().port}/orders`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: await res.json() };
}

for (const library of ['jsonwebtoken', 'jose']) {
  test(`${library}: accepts wxlogin tokens, refuses bad ones, survives a rotation`, async (t) => {
    const wx = await startServer();
    t.after(() => wx.stop());
    // The JWKS max-age the test server sends (2 s: publish delay 3 s, reload every second).
    const jwksRes = await fetch(`${wx.issuer}/.well-known/jwks.json`);
    assert.strictEqual(jwksRes.headers.get('cache-control'), 'public, max-age=2');
    const jwksMaxAgeMs = 2000;
    const srv = await listen(app({ issuer: wx.issuer, library, jwksMaxAgeMs }));
    t.after(() => srv.close());
    const other = await listen(app({ issuer: wx.issuer, audience: 'another-service', library, jwksMaxAgeMs }));
    t.after(() => other.close());

    const tokens = await wx.signIn();
    const jwks = await (await fetch(`${wx.issuer}/.well-known/jwks.json`)).json();
    assert.strictEqual(jwks.keys[0].alg, 'ES256', 'a fresh serve --dev signs ES256');
    assert.strictEqual(jwks.keys[0].kid, await thumbprint(jwks.keys[0]), 'kid is the RFC 7638 thumbprint');

    const ok = await call(srv, tokens.access_token);
    assert.strictEqual(ok.status, 200, JSON.stringify(ok.body));
    assert.strictEqual(ok.body.appid, 'wx0000000000000001');

    assert.strictEqual((await call(other, tokens.access_token)).status, 401, 'other audience');

    const [h, p, s] = tokens.access_token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.sub = 'someone-else';
    const tampered = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
    assert.strictEqual((await call(srv, tampered)).status, 401, 'tampered');

    // Rotation: the new key is published first, then signs; every token in between verifies.
    const oldKid = kidOf(tokens.access_token);
    const newKid = wx.rotate();
    assert.notStrictEqual(newKid, oldKid);
    let current = tokens;
    await eventually('a token signed by the new key', async () => {
      current = await wx.refresh(current.refresh_token);
      const res = await call(srv, current.access_token);
      assert.strictEqual(res.status, 200, `during the rotation: ${JSON.stringify(res.body)}`);
      return kidOf(current.access_token) === newKid;
    });

    // Expiry (tokens live 4 s here).
    await eventually('the token to expire', async () => (await call(srv, tokens.access_token)).status === 401);
    const expired = await call(srv, tokens.access_token);
    assert.match(JSON.stringify(expired.body), /expired/i);
  });
}

async function thumbprint(jwk) {
  const { calculateJwkThumbprint } = await import('jose');
  return calculateJwkThumbprint(jwk, 'sha256');
}
