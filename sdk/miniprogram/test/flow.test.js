// The SDK against a real `wxlogin serve --dev` process and its simulator, called the way the
// example pages call it, on each platform the SDK takes: WeChat's `wx`, uni-app's `uni` and
// Taro's `Taro` (testkit/*-shim.js: the same simulated device in each calling convention). Each
// test is a different simulated WeChat user (and phone number) per platform, so the tests share
// one server without sharing state.
'use strict';

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { createWxLogin } = require('..');
const { startServer, simPost, requireRoute } = require('../testkit/server');
const { createWx, phoneEvent, legacyPhoneEvent, deniedEvent } = require('../testkit/wx-shim');
const { createUni } = require('../testkit/uni-shim');
const { createTaro } = require('../testkit/taro-shim');
const images = require('../testkit/images');

// `accept`: the Accept-Language the SDK sends from each shim's default language.
const PLATFORMS = [
  { name: 'wx', create: createWx, accept: 'zh-CN' },
  { name: 'uni', create: createUni, accept: 'zh-Hans' },
  { name: 'taro', create: createTaro, accept: 'zh-CN' },
];

let server;
// A second server whose `registration.phone_match` is `sign_in` (the latest proof wins),
// started by the first test that needs it: a binary without that setting fails that test only.
let signInServer;

function startSignInServer() {
  if (!signInServer) signInServer = startServer({ env: { WXLOGIN__REGISTRATION__PHONE_MATCH: 'sign_in' } });
  return signInServer;
}

before(async () => {
  server = await startServer();
});

after(async () => {
  const others = signInServer ? [signInServer.then((s) => s.stop(), () => {})] : [];
  await Promise.all([server && server.stop(), ...others]);
});

/** Stored SDK keys on this device. */
function storedKeys(wx) {
  return [...wx.storage.keys()].filter((k) => k.startsWith('wxlogin:')).sort();
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

for (const [index, platform] of PLATFORMS.entries()) {
  describe(`on ${platform.name}`, () => {
    // Simulated WeChat users and phones of this platform's tests. The phone keeps the masked
    // form "+86 138****80NN" on every platform: the platform's digit is a hidden one.
    const who = (name) => `${platform.name}-${name}`;
    const phoneNo = (n) => `+86138${index}01380${String(n).padStart(2, '0')}`;

    /** A phone of simulated WeChat user `user`: its own platform object (storage, request log) and SDK. */
    function device(user, opts = {}) {
      const language = opts.language;
      const wx = platform.create({ simUrl: server.simUrl, user: who(user), language, appLanguage: language });
      const sdk = createWxLogin({ baseUrl: server.baseUrl, platform: wx, locale: opts.locale });
      return { wx, sdk };
    }

    const phoneTap = (user, n) => phoneEvent(server.simUrl, who(user), phoneNo(n));
    const legacyTap = (user, n) => legacyPhoneEvent(server.simUrl, who(user), phoneNo(n));

    async function registeredDevice(user, n, nickname) {
      const d = device(user);
      await d.sdk.login();
      await d.sdk.loginWithPhone(await phoneTap(user, n));
      await d.sdk.register({ nickname });
      return d;
    }

    test('a new user: not registered, then registered by phone, then /v1/me shows them', async () => {
      const { wx, sdk } = device('ann');

      assert.deepEqual(await sdk.login(), { registered: false });
      assert.equal(sdk.isLoggedIn(), false);

      const phone = await sdk.loginWithPhone(await phoneTap('ann', 1));
      assert.equal(phone.registered, false);
      assert.deepEqual(phone.phone, { phone_number: phoneNo(1), pure_phone_number: phoneNo(1).slice(3), country_code: '86' });
      assert.equal(typeof phone.ticket, 'string');
      assert.equal(sdk.getPendingRegistration().phone.phone_number, phoneNo(1));

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
      const first = await registeredDevice('cleo', 2, 'Cleo');
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

    test('another WeChat account with a registered phone is refused: phone_bound_elsewhere (the default)', async () => {
      // A phone number is recycled (二次放号): its new holder must not get the old account.
      const owner = await registeredDevice('dan', 3, 'Dan');
      const { sdk } = device('dan-second-account');
      assert.deepEqual(await sdk.login(), { registered: false });
      const err = await rejection(sdk.loginWithPhone(await phoneTap('dan-second-account', 3)));
      assert.equal(err.code, 'phone_bound_elsewhere');
      assert.equal(err.status, 409);
      assert.equal(sdk.messageFor(err), '该手机号的账号已绑定其他微信号，无法用这个微信号登录');
      assert.equal(sdk.isLoggedIn(), false);
      assert.equal(sdk.getPendingRegistration(), null);
      assert.deepEqual(await sdk.login(), { registered: false }, 'nothing was bound');
      assert.equal((await owner.sdk.request({ url: '/v1/me' })).data.user.identities.length, 1);
    });

    test('with phone_match = sign_in, another WeChat account with a registered phone is signed in', async () => {
      const signInServer = await startSignInServer();
      const on = (user) => createWxLogin({ baseUrl: signInServer.baseUrl, platform: platform.create({ simUrl: signInServer.simUrl, user: who(user) }) });
      const firstSdk = on('dax');
      await firstSdk.loginWithPhone(await phoneEvent(signInServer.simUrl, who('dax'), phoneNo(13)));
      await firstSdk.register({ nickname: 'Dax' });

      const sdk = on('dax-second-account');

      assert.deepEqual(await sdk.login(), { registered: false });
      const result = await sdk.loginWithPhone(await phoneEvent(signInServer.simUrl, who('dax-second-account'), phoneNo(13)));
      assert.equal(result.registered, true);
      assert.equal(result.user.user_id, firstSdk.getUser().user_id);
      assert.equal(sdk.getPendingRegistration(), null);
      const me = await sdk.request({ url: '/v1/me' });
      assert.equal(me.data.user.nickname, 'Dax');
    });

    test('legacy encryptedData from one login ago is still accepted (previous-key grace)', async () => {
      const { sdk } = device('eve');
      await sdk.login();
      const event = await legacyTap('eve', 4);
      await sdk.login(); // rotates the session_key once
      const result = await sdk.loginWithPhone(event);
      assert.equal(result.registered, false);
      assert.equal(result.phone.phone_number, phoneNo(4));
    });

    test('a stale session_key: logs in again, asks for another tap, and the next tap works', async () => {
      const { wx, sdk } = device('finn');
      await sdk.login();
      const stale = await legacyTap('finn', 5);
      // Two more logins: the key that encrypted `stale` is neither the current nor the previous one.
      await sdk.login();
      await sdk.login();
      assert.equal(wx.count('/v1/login'), 3);

      const err = await rejection(sdk.loginWithPhone(stale));
      assert.equal(err.code, 'session_key_stale');
      assert.equal(err.status, 422);
      assert.equal(err.message, '微信登录状态已更新，请再点一次按钮', 'the SDK\'s own text, in Chinese by default');
      assert.ok(err.requestId);
      assert.equal(wx.count('/v1/login'), 4, 'the SDK logged in again after the stale key');

      const fresh = await legacyTap('finn', 5);
      const result = await sdk.loginWithPhone(fresh);
      assert.equal(result.registered, false);
      assert.equal(result.phone.phone_number, phoneNo(5));
      const { user } = await sdk.register({ nickname: 'Finn' });
      assert.equal(user.phone_masked, '+86 138****8005');
    });

    test('an access token the server refuses is refreshed exactly once, then the request succeeds', async () => {
      const { wx, sdk } = await registeredDevice('gus', 6, 'Gus');
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
      const { wx, sdk } = await registeredDevice('hal', 7, 'Hal');
      replaceAccessToken(wx, () => 'not-a-jwt');

      const results = await Promise.all([1, 2, 3, 4, 5].map(() => sdk.request({ url: '/v1/me' })));
      assert.ok(results.every((r) => r.data.user.nickname === 'Hal'));
      assert.equal(wx.count('/v1/token/refresh'), 1);
      assert.equal(sdk.isLoggedIn(), true);
    });

    test('a reused refresh token ends the sign-in: tokens cleared, unauthenticated', async () => {
      const { wx, sdk } = await registeredDevice('ivy', 8, 'Ivy');
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
      const { wx, sdk } = await registeredDevice('jay', 9, 'Jay');
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
      await a.sdk.loginWithPhone(await phoneTap('nia', 10));
      await b.sdk.loginWithPhone(await phoneTap('nia-other-account', 10));
      await a.sdk.register({ nickname: 'Nia' });

      const err = await rejection(b.sdk.register({ nickname: 'Nia too' }));
      assert.equal(err.code, 'already_registered');
      assert.equal(err.status, 409);
      assert.equal(b.sdk.getPendingRegistration(), null);
      // The phone step again: the number's user has a WeChat account in this app already (a's),
      // so the default phone_match refuses rather than signing b in.
      const again = await rejection(b.sdk.loginWithPhone(await phoneTap('nia-other-account', 10)));
      assert.equal(again.code, 'phone_bound_elsewhere');
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

    /* ---- Accept-Language, and the account (#17): PATCH/DELETE /v1/me, /v1/me/phone,
       /v1/me/export, /v1/avatar. Each test that needs a new route says so first. ---- */

    const outage = () => simPost(server.simUrl, 'faults', { api: 'jscode2session', errcode: -1, times: 1, delay_ms: 0 });

    test('the platform language goes out as Accept-Language, and the server answers in it', async (t) => {
      t.after(() => fetch(`${server.simUrl}/_sim/v1/faults`, { method: 'DELETE' }));
      const zh = device('lang-zh');
      await outage();
      const err = await rejection(zh.sdk.login());
      assert.equal(zh.wx.requests[0].header['Accept-Language'], platform.accept);
      assert.equal(err.code, 'wechat_unavailable');
      assert.equal(err.message, '微信服务暂时不可用，请稍后再试', "the server's own Chinese message");
      assert.equal(zh.sdk.messageFor(err), '微信服务暂时不可用，请稍后再试');

      const en = device('lang-en', { language: 'en' });
      await outage();
      const errEn = await rejection(en.sdk.login());
      assert.equal(en.wx.requests[0].header['Accept-Language'], 'en');
      assert.doesNotMatch(errEn.message, /[\u4e00-\u9fff]/, 'an English message');
      assert.equal(en.sdk.messageFor(errEn), 'WeChat is not answering right now. Please try again later.');
    });

    test('updateProfile: nickname and avatar change, null removes the avatar, a refused token is refreshed', async () => {
      await requireRoute(server, 'patch', '/v1/me');
      const { wx, sdk } = await registeredDevice('pat', 20, 'Pat');
      replaceAccessToken(wx, forgeExpired);

      const { user } = await sdk.updateProfile({ nickname: 'Patricia', avatarUrl: 'https://cdn.example.com/pat.png' });
      assert.equal(user.nickname, 'Patricia');
      assert.equal(user.avatar_url, 'https://cdn.example.com/pat.png');
      assert.equal(user.phone_masked, '+86 138****8020');
      assert.deepEqual(sdk.getUser(), user, 'getUser() has the changed user');
      assert.equal(wx.count('/v1/token/refresh'), 1);

      const cleared = await sdk.updateProfile({ avatarUrl: null });
      assert.equal(cleared.user.avatar_url, null);
      assert.equal(cleared.user.nickname, 'Patricia', 'what is not given is left alone');
      const patches = wx.requests.filter((r) => r.method === 'PATCH' && r.path === '/v1/me').map((r) => r.body);
      assert.deepEqual(patches.at(-1), { avatar_url: null });
      assert.equal((await sdk.request({ url: '/v1/me' })).data.user.nickname, 'Patricia');

      const err = await rejection(sdk.updateProfile({ nickname: '   ' }));
      assert.equal(err.code, 'invalid_request');
      assert.equal(err.status, 400);
      assert.equal(wx.count('/v1/token/refresh'), 1, 'a 400 is not a token problem');
    });

    test('uploadAvatar signed in: multipart with the bearer token, then updateProfile with its URL', async () => {
      await requireRoute(server, 'post', '/v1/avatar');
      const { wx, sdk } = await registeredDevice('ava', 21, 'Ava');
      const { avatarUrl } = await sdk.uploadAvatar(wx.addTempFile(images.png(96, 96), 'png'));
      assert.ok(avatarUrl.startsWith(`${server.baseUrl}/avatars/`), avatarUrl);
      const upload = wx.requests.find((r) => r.path === '/v1/avatar');
      assert.match(upload.header.Authorization, /^Bearer /);
      assert.equal(upload.header['Accept-Language'], platform.accept);
      assert.equal(upload.body.registration_ticket, undefined, 'no ticket when signed in');
      assert.equal((await sdk.request({ url: '/v1/me' })).data.user.avatar_url, null, 'the upload alone changes nothing');

      const served = await fetch(avatarUrl);
      assert.equal(served.status, 200);
      assert.match(served.headers.get('content-type'), /^image\//);

      const { user } = await sdk.updateProfile({ avatarUrl });
      assert.equal(user.avatar_url, avatarUrl);
    });

    test('uploadAvatar on the registration page: the ticket (pending or given), then register with its URL', async () => {
      await requireRoute(server, 'post', '/v1/avatar');
      const { wx, sdk } = device('reg-ava');
      const pending = await sdk.loginWithPhone(await phoneTap('reg-ava', 22));
      assert.equal(pending.registered, false);

      const first = await sdk.uploadAvatar(wx.addTempFile(images.png(), 'png'));
      const { avatarUrl } = await sdk.uploadAvatar(wx.addTempFile(images.png(48, 48, [200, 30, 30]), 'png'), {
        registrationTicket: pending.ticket,
      });
      assert.notEqual(first.avatarUrl, avatarUrl);
      const uploads = wx.requests.filter((r) => r.path === '/v1/avatar');
      assert.equal(uploads.length, 2);
      for (const u of uploads) {
        assert.equal(u.body.registration_ticket, pending.ticket);
        assert.equal(u.header.Authorization, undefined);
      }
      assert.ok(sdk.getPendingRegistration(), 'an upload does not use the ticket up');

      const { user } = await sdk.register({ nickname: 'Reggie', avatarUrl });
      assert.equal(user.avatar_url, avatarUrl);
    });

    test('uploadAvatar refuses what is no avatar: image_invalid, payload_too_large, ticket_invalid', async () => {
      await requireRoute(server, 'post', '/v1/avatar');
      const { wx, sdk } = await registeredDevice('bad-ava', 23, 'Bad');
      const notImage = await rejection(sdk.uploadAvatar(wx.addTempFile(images.notAnImage(), 'png')));
      assert.equal(notImage.code, 'image_invalid');
      assert.equal(notImage.status, 422);
      assert.equal(sdk.messageFor(notImage), '图片无法使用，请选择 JPG、PNG 或 WebP 图片');
      const big = await rejection(sdk.uploadAvatar(wx.addTempFile(images.tooLarge(), 'png')));
      assert.equal(big.code, 'payload_too_large');
      assert.equal(big.status, 413);
      assert.equal(wx.count('/v1/token/refresh'), 0, 'neither is a token problem');

      const stranger = device('bad-ticket');
      const bad = await rejection(
        stranger.sdk.uploadAvatar(stranger.wx.addTempFile(images.png(), 'png'), { registrationTicket: 'not-a-ticket' })
      );
      assert.equal(bad.code, 'ticket_invalid');
      assert.equal(bad.status, 401);
    });

    test('changePhone: one silent login for a session, then the new number; the old one is free again', async () => {
      await requireRoute(server, 'post', '/v1/me/phone');
      const { wx, sdk } = await registeredDevice('cody', 24, 'Cody');
      const logins = wx.count('/v1/login');
      const { user } = await sdk.changePhone(await phoneTap('cody', 25));
      assert.equal(user.phone_masked, '+86 138****8025');
      assert.equal(wx.count('/v1/login'), logins + 1);
      const sent = wx.requests.find((r) => r.path === '/v1/me/phone');
      assert.deepEqual(Object.keys(sent.body).sort(), ['code', 'session']);
      assert.match(sent.header.Authorization, /^Bearer /);
      assert.equal(sdk.getUser().phone_masked, '+86 138****8025');
      assert.equal((await sdk.request({ url: '/v1/me' })).data.user.phone_masked, '+86 138****8025');

      // The old number is released: another WeChat user verifying it starts a registration.
      const other = device('cody-old-number');
      const fresh = await other.sdk.loginWithPhone(await phoneTap('cody-old-number', 24));
      assert.equal(fresh.registered, false);
    });

    test('changePhone with encryptedData (older base libraries); a refusal sends nothing', async () => {
      await requireRoute(server, 'post', '/v1/me/phone');
      const { wx, sdk } = await registeredDevice('lena', 26, 'Lena');
      const sent = wx.requests.length;
      const denied = await rejection(sdk.changePhone(deniedEvent()));
      assert.equal(denied.code, 'permission_denied');
      assert.equal(wx.requests.length, sent);

      const { user } = await sdk.changePhone(await legacyTap('lena', 27));
      assert.equal(user.phone_masked, '+86 138****8027');
      assert.deepEqual(Object.keys(wx.requests.find((r) => r.path === '/v1/me/phone').body).sort(), ['encrypted_data', 'iv', 'session']);
    });

    test('changePhone to a number another account holds: phone_taken, nothing changes', async () => {
      await requireRoute(server, 'post', '/v1/me/phone');
      await registeredDevice('owner', 28, 'Owner');
      const { wx, sdk } = await registeredDevice('taker', 29, 'Taker');
      const err = await rejection(sdk.changePhone(await phoneTap('taker', 28)));
      assert.equal(err.code, 'phone_taken');
      assert.equal(err.status, 409);
      assert.equal(sdk.messageFor(err), '该手机号已被其他账号使用');
      assert.equal(sdk.isLoggedIn(), true);
      assert.equal((await sdk.request({ url: '/v1/me' })).data.user.phone_masked, '+86 138****8029');
      assert.equal(wx.count('/v1/token/refresh'), 0);
    });

    test('deleteAccount: the server forgets the user, the device forgets everything', async () => {
      await requireRoute(server, 'delete', '/v1/me');
      const { wx, sdk } = await registeredDevice('del', 30, 'Del');
      const tokens = wx.getStorageSync('wxlogin:tokens');

      assert.equal(await sdk.deleteAccount(), undefined);
      assert.deepEqual(storedKeys(wx), []);
      assert.equal(sdk.isLoggedIn(), false);
      assert.equal(sdk.getUser(), null);

      // Every sign-in ended on the server too.
      const me = await fetch(`${server.baseUrl}/v1/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(me.status, 401);
      const refreshed = await fetch(`${server.baseUrl}/v1/token/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: tokens.refresh_token }),
      });
      assert.equal(refreshed.status, 401);

      // The WeChat account is a stranger again, and its number can start a new account.
      assert.deepEqual(await sdk.login(), { registered: false });
      const again = await sdk.loginWithPhone(await phoneTap('del', 30));
      assert.equal(again.registered, false);
      const { user } = await sdk.register({ nickname: 'Del again' });
      assert.equal(user.phone_masked, '+86 138****8030');
    });

    test('exportAccount: everything held about the user', async () => {
      await requireRoute(server, 'get', '/v1/me/export');
      const { sdk } = await registeredDevice('exp', 31, 'Exp');
      const data = await sdk.exportAccount();
      assert.equal(data.user.user_id, sdk.getUser().user_id);
      assert.equal(data.user.phone_number, phoneNo(31));
      assert.equal(data.user.nickname, 'Exp');
      assert.equal(data.identities.length, 1);
      assert.equal(data.identities[0].appid, server.appid);
      assert.equal(typeof data.identities[0].openid, 'string');
      assert.ok(data.refresh_families.length >= 1);
      assert.ok(Array.isArray(data.sessions));
      assert.ok(data.events.some((e) => e.type === 'user.registered'));
    });
  });
}
