// The SDK against a real `wxlogin serve --dev` process and its simulator, called the way the
// example pages call it. Each test is a different simulated WeChat user (and phone number),
// so the tests share one server without sharing state.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { createWxLogin } = require('..');
const { startServer, simPost } = require('../testkit/server');
const { createWx, phoneEvent, legacyPhoneEvent, deniedEvent } = require('../testkit/wx-shim');

let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  if (server) await server.stop();
});

/** A phone of simulated WeChat user `user`: its own wx (storage, request log) and SDK. */
function device(user) {
  const wx = createWx({ simUrl: server.simUrl, user });
  const sdk = createWxLogin({ baseUrl: server.baseUrl, wx });
  return { wx, sdk };
}

/** Stored SDK keys on this device. */
function storedKeys(wx) {
  return [...wx.storage.keys()].filter((k) => k.startsWith('wxlogin:')).sort();
}

async function registeredDevice(user, phone, nickname) {
  const d = device(user);
  await d.sdk.login();
  await d.sdk.loginWithPhone(await phoneEvent(server.simUrl, user, phone));
  await d.sdk.register({ nickname });
  return d;
}

/** The stored access token with `exp` in the past and its signature left as it was. */
function forgeExpired(token) {
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  claims.iat = now - 3600;
  claims.exp = now - 60;
  return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
}

function replaceAccessToken(wx, make) {
  const tokens = wx.getStorageSync('wxlogin:tokens');
  // The stored expiry stays in the future: only the server can tell that the token is bad.
  tokens.access_token = make(tokens.access_token);
  wx.setStorageSync('wxlogin:tokens', tokens);
  return tokens;
}

async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

test('a new user: not registered, then registered by phone, then /v1/me shows them', async () => {
  const { wx, sdk } = device('ann');

  assert.deepEqual(await sdk.login(), { registered: false });
  assert.equal(sdk.isLoggedIn(), false);

  const phone = await sdk.loginWithPhone(await phoneEvent(server.simUrl, 'ann', '+8613800138001'));
  assert.equal(phone.registered, false);
  assert.deepEqual(phone.phone, { phone_number: '+8613800138001', pure_phone_number: '13800138001', country_code: '86' });
  assert.equal(typeof phone.ticket, 'string');
  assert.equal(sdk.getPendingRegistration().phone.phone_number, '+8613800138001');

  const { user } = await sdk.register({ nickname: 'Ann', avatarUrl: 'https://cdn.example.com/ann.png' });
  assert.equal(user.nickname, 'Ann');
  assert.equal(user.avatar_url, 'https://cdn.example.com/ann.png');
  assert.equal(sdk.getPendingRegistration(), null);
  assert.equal(sdk.isLoggedIn(), true);

  const me = await sdk.request({ url: '/v1/me' });
  assert.equal(me.statusCode, 200);
  assert.equal(me.data.user.user_id, user.user_id);
  assert.equal(me.data.user.nickname, 'Ann');
  assert.equal(me.data.user.phone_masked, '+86 138****8001');
  assert.deepEqual(me.data.user.identities, [{ appid: server.appid, has_unionid: true }]);
  assert.deepEqual(storedKeys(wx), ['wxlogin:session', 'wxlogin:tokens', 'wxlogin:user']);
  assert.equal(wx.count('/v1/token/refresh'), 0);
});

test('a returning user on a new device is signed in silently by login()', async () => {
  const first = await registeredDevice('cleo', '+8613800138002', 'Cleo');
  const firstUser = first.sdk.getUser();

  const { wx, sdk } = device('cleo'); // empty storage, same WeChat user
  const result = await sdk.login();
  assert.equal(result.registered, true);
  assert.equal(result.user.user_id, firstUser.user_id);
  assert.equal(result.user.nickname, 'Cleo');
  assert.equal(sdk.isLoggedIn(), true);
  const me = await sdk.request({ url: '/v1/me' });
  assert.equal(me.data.user.user_id, firstUser.user_id);
  assert.deepEqual(
    wx.requests.map((r) => r.path),
    ['/v1/login', '/v1/me']
  );
});

test('another WeChat account with a registered phone is signed in by loginWithPhone', async () => {
  const owner = await registeredDevice('dan', '+8613800138003', 'Dan');
  const { sdk } = device('dan-second-account');
  assert.deepEqual(await sdk.login(), { registered: false });
  const result = await sdk.loginWithPhone(await phoneEvent(server.simUrl, 'dan-second-account', '+8613800138003'));
  assert.equal(result.registered, true);
  assert.equal(result.user.user_id, owner.sdk.getUser().user_id);
  assert.equal(sdk.getPendingRegistration(), null);
  const me = await sdk.request({ url: '/v1/me' });
  assert.equal(me.data.user.nickname, 'Dan');
});

test('legacy encryptedData from one login ago is still accepted (previous-key grace)', async () => {
  const { sdk } = device('eve');
  await sdk.login();
  const event = await legacyPhoneEvent(server.simUrl, 'eve', '+8613800138004');
  await sdk.login(); // rotates the session_key once
  const result = await sdk.loginWithPhone(event);
  assert.equal(result.registered, false);
  assert.equal(result.phone.phone_number, '+8613800138004');
});

test('a stale session_key: logs in again, asks for another tap, and the next tap works', async () => {
  const { wx, sdk } = device('finn');
  await sdk.login();
  const stale = await legacyPhoneEvent(server.simUrl, 'finn', '+8613800138005');
  // Two more logins: the key that encrypted `stale` is neither the current nor the previous one.
  await sdk.login();
  await sdk.login();
  assert.equal(wx.count('/v1/login'), 3);

  const err = await rejection(sdk.loginWithPhone(stale));
  assert.equal(err.code, 'session_key_stale');
  assert.equal(err.status, 422);
  assert.match(err.message, /tap the button again/);
  assert.ok(err.requestId);
  assert.equal(wx.count('/v1/login'), 4, 'the SDK logged in again after the stale key');

  const fresh = await legacyPhoneEvent(server.simUrl, 'finn', '+8613800138005');
  const result = await sdk.loginWithPhone(fresh);
  assert.equal(result.registered, false);
  assert.equal(result.phone.phone_number, '+8613800138005');
  const { user } = await sdk.register({ nickname: 'Finn' });
  assert.equal(user.phone_masked, '+86 138****8005');
});

test('an access token the server refuses is refreshed exactly once, then the request succeeds', async () => {
  const { wx, sdk } = await registeredDevice('gus', '+8613800138006', 'Gus');
  const before = replaceAccessToken(wx, forgeExpired);

  const me = await sdk.request({ url: '/v1/me' });
  assert.equal(me.data.user.nickname, 'Gus');
  assert.equal(wx.count('/v1/token/refresh'), 1);
  assert.equal(wx.count('/v1/me'), 2, 'the refused request and its one repeat');
  const after = wx.getStorageSync('wxlogin:tokens');
  assert.notEqual(after.refresh_token, before.refresh_token, 'the refresh token rotated');
});

test('concurrent requests with a refused token share one refresh', async () => {
  // Two refreshes with the same refresh token would trip reuse detection and end the sign-in,
  // so this passing against the real server shows the single flight.
  const { wx, sdk } = await registeredDevice('hal', '+8613800138007', 'Hal');
  replaceAccessToken(wx, () => 'not-a-jwt');

  const results = await Promise.all([1, 2, 3, 4, 5].map(() => sdk.request({ url: '/v1/me' })));
  assert.ok(results.every((r) => r.data.user.nickname === 'Hal'));
  assert.equal(wx.count('/v1/token/refresh'), 1);
  assert.equal(sdk.isLoggedIn(), true);
});

test('a reused refresh token ends the sign-in: tokens cleared, unauthenticated', async () => {
  const { wx, sdk } = await registeredDevice('ivy', '+8613800138008', 'Ivy');
  const old = wx.getStorageSync('wxlogin:tokens');
  replaceAccessToken(wx, forgeExpired);
  await sdk.request({ url: '/v1/me' }); // rotates the refresh token
  const newer = wx.getStorageSync('wxlogin:tokens');

  // Put the already-rotated refresh token back, as a restored backup or a second copy would.
  wx.setStorageSync('wxlogin:tokens', { ...old, access_token: forgeExpired(old.access_token) });
  const err = await rejection(sdk.request({ url: '/v1/me' }));
  assert.equal(err.code, 'unauthenticated');
  assert.equal(err.reason, 'refresh_token_reused');
  assert.equal(sdk.isLoggedIn(), false);
  assert.deepEqual(storedKeys(wx), ['wxlogin:session']);

  // The contract: the whole family is revoked, the newest refresh token included.
  const res = await fetch(`${server.baseUrl}/v1/token/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: newer.refresh_token }),
  });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.code, 'refresh_token_invalid');
});

test('logout revokes the tokens on the server and clears the storage', async () => {
  const { wx, sdk } = await registeredDevice('jay', '+8613800138009', 'Jay');
  const { access_token: accessToken } = wx.getStorageSync('wxlogin:tokens');

  assert.deepEqual(await sdk.logout(), { revoked: true });
  assert.deepEqual(storedKeys(wx), []);
  assert.equal(sdk.isLoggedIn(), false);
  assert.equal(sdk.getUser(), null);

  const sent = wx.requests.length;
  const err = await rejection(sdk.request({ url: '/v1/me' }));
  assert.equal(err.code, 'unauthenticated');
  assert.equal(wx.requests.length, sent, 'nothing to send without tokens');

  // The old access token is refused by the server too, not only forgotten here.
  const res = await fetch(`${server.baseUrl}/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.code, 'unauthenticated');
});

test('a refused phone permission rejects with permission_denied without any request', async () => {
  const { wx, sdk } = device('kim');
  await sdk.login();
  const sent = wx.requests.length;
  const err = await rejection(sdk.loginWithPhone(deniedEvent()));
  assert.equal(err.code, 'permission_denied');
  assert.match(err.message, /user deny/);
  assert.equal(wx.requests.length, sent);
});

test('login_code_used from WeChat is answered with one fresh wx.login', async (t) => {
  t.after(() => fetch(`${server.simUrl}/_sim/v1/faults`, { method: 'DELETE' }));
  const { wx, sdk } = device('max');
  await simPost(server.simUrl, 'faults', { api: 'jscode2session', errcode: 40163, times: 1, delay_ms: 0 });
  assert.deepEqual(await sdk.login(), { registered: false });
  assert.equal(wx.count('/v1/login'), 2);
  const codes = wx.requests.filter((r) => r.path === '/v1/login').map((r) => r.body.code);
  assert.notEqual(codes[0], codes[1], 'a new code, not the same one again');
});

test('a ticket whose phone was registered meanwhile: already_registered, ticket forgotten', async () => {
  const a = device('nia');
  const b = device('nia-other-account');
  await a.sdk.loginWithPhone(await phoneEvent(server.simUrl, 'nia', '+8613800138010'));
  await b.sdk.loginWithPhone(await phoneEvent(server.simUrl, 'nia-other-account', '+8613800138010'));
  await a.sdk.register({ nickname: 'Nia' });

  const err = await rejection(b.sdk.register({ nickname: 'Nia too' }));
  assert.equal(err.code, 'already_registered');
  assert.equal(err.status, 409);
  assert.equal(b.sdk.getPendingRegistration(), null);
  // As the contract says: the phone step again signs this account in to the same user.
  const again = await b.sdk.loginWithPhone(await phoneEvent(server.simUrl, 'nia-other-account', '+8613800138010'));
  assert.equal(again.registered, true);
  assert.equal(again.user.user_id, a.sdk.getUser().user_id);
});

test('a WeChat outage surfaces as wechat_unavailable with status and request id', async (t) => {
  t.after(() => fetch(`${server.simUrl}/_sim/v1/faults`, { method: 'DELETE' }));
  const { sdk } = device('lou');
  await simPost(server.simUrl, 'faults', { api: 'jscode2session', errcode: -1, times: 1, delay_ms: 0 });
  const err = await rejection(sdk.login());
  assert.equal(err.code, 'wechat_unavailable');
  assert.equal(err.status, 503);
  assert.ok(err.requestId);
  assert.ok(err.retryAfter >= 0);
  assert.deepEqual(await sdk.login(), { registered: false }, 'the next attempt goes through');
});
