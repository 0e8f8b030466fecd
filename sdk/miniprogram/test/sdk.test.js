// The SDK against a scripted fake `wx`: no server. Error mapping, single-flight refresh,
// retries, storage, the platform adapter (wx / uni / Taro calling conventions), languages and
// texts, the account calls, and the source's own constraints (ES2017, the example's copy).
'use strict';

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { createWxLogin, WxLoginError, messages } = require('..');
const sync = require('../scripts/sync-example');

const REPO_ROOT = path.join(__dirname, '..', '..', '..');

const BASE = 'https://auth.test';

function tokens(n) {
  return {
    access_token: `access-${n}`,
    token_type: 'Bearer',
    expires_in: 900,
    refresh_token: `refresh-${n}`,
    refresh_expires_in: 2592000,
  };
}
const USER = { user_id: 'u1', nickname: 'Ann', avatar_url: null, phone_masked: '+86 138****8000' };

function errorBody(code, requestId = 'req-1', extra = {}) {
  return { error: { code, message: `server says ${code}`, request_id: requestId, ...extra } };
}

/**
 * A fake wx. `routes` maps "METHOD /path" to a function (params, n) => response | Promise, where
 * a response is {statusCode, data, header?} or the string 'fail' (wx.request's fail callback).
 */
function fakeWx(routes = {}) {
  const storage = new Map();
  let codes = 0;
  const wx = {
    requests: [],
    logins: 0,
    storage,
    login({ success }) {
      wx.logins++;
      setImmediate(() => success({ errMsg: 'login:ok', code: `code-${++codes}` }));
    },
    request(params) {
      const url = new URL(params.url);
      const key = `${params.method} ${url.pathname}`;
      const entry = { key, url: params.url, header: params.header, data: params.data };
      wx.requests.push(entry);
      const n = wx.requests.filter((r) => r.key === key).length;
      const route = routes[key];
      Promise.resolve(route ? route(params, n) : { statusCode: 404, data: errorBody('not_found') }).then((res) => {
        if (res === 'fail') params.fail({ errMsg: 'request:fail timeout' });
        else params.success({ errMsg: 'request:ok', header: {}, ...res });
      });
    },
    // As WeChat: multipart, and the answer's data is always a string.
    uploadFile(params) {
      const url = new URL(params.url);
      const key = `UPLOAD ${url.pathname}`;
      wx.requests.push({ key, url: params.url, header: params.header, data: params.formData, filePath: params.filePath, name: params.name });
      const n = wx.requests.filter((r) => r.key === key).length;
      const route = routes[key];
      Promise.resolve(route ? route(params, n) : { statusCode: 404, data: errorBody('not_found') }).then((res) => {
        if (res === 'fail') params.fail({ errMsg: 'uploadFile:fail timeout' });
        else params.success({ errMsg: 'uploadFile:ok', ...res, data: typeof res.data === 'string' ? res.data : JSON.stringify(res.data) });
      });
    },
    setStorageSync: (k, v) => storage.set(k, structuredClone(v)),
    getStorageSync: (k) => (storage.has(k) ? structuredClone(storage.get(k)) : ''),
    removeStorageSync: (k) => storage.delete(k),
    count: (key) => wx.requests.filter((r) => r.key === key).length,
  };
  return wx;
}

function signedInWx(routes, extraTokens = {}) {
  const wx = fakeWx(routes);
  wx.setStorageSync('wxlogin:tokens', {
    access_token: 'access-0',
    expires_at: Date.now() + 600000,
    refresh_token: 'refresh-0',
    refresh_expires_at: Date.now() + 86400000,
    ...extraTokens,
  });
  return wx;
}

const bearer = (params) => params.header.Authorization;

describe('errors', () => {
  test('a wxlogin error body becomes a WxLoginError with code, status, requestId and message', async () => {
    const wx = fakeWx({
      'POST /v1/login': () => ({
        statusCode: 503,
        data: errorBody('wechat_unavailable', 'req-42', { wechat_errcode: -1 }),
        header: { 'Retry-After': '5', 'X-Request-Id': 'req-42' },
      }),
    });
    const err = await createWxLogin({ baseUrl: BASE, wx }).login().catch((e) => e);
    assert.ok(err instanceof WxLoginError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'WxLoginError');
    assert.equal(err.code, 'wechat_unavailable');
    assert.equal(err.status, 503);
    assert.equal(err.requestId, 'req-42');
    assert.equal(err.message, 'server says wechat_unavailable');
    assert.equal(err.wechatErrcode, -1);
    assert.equal(err.retryAfter, 5);
  });

  test('a body that arrives as a JSON string is parsed', async () => {
    const wx = fakeWx({
      'POST /v1/login': () => ({ statusCode: 403, data: JSON.stringify(errorBody('login_blocked')) }),
    });
    const err = await createWxLogin({ baseUrl: BASE, wx }).login().catch((e) => e);
    assert.equal(err.code, 'login_blocked');
    assert.equal(err.status, 403);
  });

  test('a non-2xx without the error shape is http_error and keeps the body', async () => {
    const wx = signedInWx({ 'GET /orders': () => ({ statusCode: 502, data: '<html>bad gateway</html>' }) });
    const err = await createWxLogin({ baseUrl: BASE, wx })
      .request({ url: '/orders' })
      .catch((e) => e);
    assert.equal(err.code, 'http_error');
    assert.equal(err.status, 502);
    assert.equal(err.data, '<html>bad gateway</html>');
  });

  test('a failed wx.request is network_error with status 0', async () => {
    const wx = fakeWx({ 'POST /v1/login': () => 'fail' });
    const err = await createWxLogin({ baseUrl: BASE, wx }).login().catch((e) => e);
    assert.equal(err.code, 'network_error');
    assert.equal(err.status, 0);
    assert.match(err.message, /request:fail timeout/);
  });

  test('a failed wx.login is network_error, and nothing is sent', async () => {
    const wx = fakeWx();
    wx.login = ({ fail }) => setImmediate(() => fail({ errMsg: 'login:fail network' }));
    const err = await createWxLogin({ baseUrl: BASE, wx }).login().catch((e) => e);
    assert.equal(err.code, 'network_error');
    assert.equal(wx.requests.length, 0);
  });

  test('createWxLogin without baseUrl throws a TypeError', () => {
    assert.throws(() => createWxLogin({ wx: fakeWx() }), TypeError);
  });
});

describe('login', () => {
  test('a known user is signed in silently and the tokens are stored under the prefix', async () => {
    const wx = fakeWx({
      'POST /v1/login': (p) => {
        assert.equal(p.data.code, 'code-1');
        assert.equal(p.data.appid, 'wxapp');
        return { statusCode: 200, data: { session: 's1', session_expires_in: 2592000, registered: true, user: USER, tokens: tokens(1) } };
      },
    });
    const sdk = createWxLogin({ baseUrl: BASE + '/', appid: 'wxapp', wx });
    assert.deepEqual(await sdk.login(), { registered: true, user: USER });
    assert.equal(wx.requests[0].url, 'https://auth.test/v1/login');
    assert.equal(wx.getStorageSync('wxlogin:tokens').refresh_token, 'refresh-1');
    assert.equal(wx.getStorageSync('wxlogin:session').value, 's1');
    assert.equal(sdk.isLoggedIn(), true);
    assert.deepEqual(sdk.getUser(), USER);
  });

  test('an unknown user gets {registered: false} and stale tokens are dropped', async () => {
    const wx = signedInWx({
      'POST /v1/login': () => ({ statusCode: 200, data: { session: 's1', session_expires_in: 100, registered: false } }),
    });
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    assert.deepEqual(await sdk.login(), { registered: false });
    assert.equal(sdk.isLoggedIn(), false);
  });

  test('login_code_used triggers exactly one more wx.login', async () => {
    const wx = fakeWx({
      'POST /v1/login': (p, n) =>
        n === 1
          ? { statusCode: 409, data: errorBody('login_code_used') }
          : { statusCode: 200, data: { session: 's', session_expires_in: 100, registered: false } },
    });
    assert.deepEqual(await createWxLogin({ baseUrl: BASE, wx }).login(), { registered: false });
    assert.equal(wx.logins, 2);
    assert.deepEqual(
      wx.requests.map((r) => r.data.code),
      ['code-1', 'code-2']
    );
  });

  test('a second login_code_invalid is not retried again', async () => {
    const wx = fakeWx({ 'POST /v1/login': () => ({ statusCode: 400, data: errorBody('login_code_invalid') }) });
    const err = await createWxLogin({ baseUrl: BASE, wx }).login().catch((e) => e);
    assert.equal(err.code, 'login_code_invalid');
    assert.equal(wx.logins, 2);
  });

  test('concurrent login() calls share one wx.login', async () => {
    const wx = fakeWx({
      'POST /v1/login': () => ({ statusCode: 200, data: { session: 's', session_expires_in: 100, registered: false } }),
    });
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    await Promise.all([sdk.login(), sdk.login(), sdk.login()]);
    assert.equal(wx.logins, 1);
  });
});

describe('loginWithPhone', () => {
  const loginOk = () => ({ statusCode: 200, data: { session: 'sess', session_expires_in: 2592000, registered: false } });
  const ticketOk = () => ({
    statusCode: 200,
    data: {
      registered: false,
      phone: { phone_number: '+8613800138000', pure_phone_number: '13800138000', country_code: '86' },
      registration_ticket: 'ticket-1',
      ticket_expires_in: 600,
    },
  });

  test('a refusal rejects with permission_denied and sends nothing', async () => {
    const wx = fakeWx();
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    for (const event of [{ detail: { errMsg: 'getPhoneNumber:fail user deny' } }, { detail: {} }, undefined]) {
      const err = await sdk.loginWithPhone(event).catch((e) => e);
      assert.equal(err.code, 'permission_denied');
      assert.equal(err.status, 0);
    }
    assert.equal(wx.requests.length, 0);
    assert.equal(wx.logins, 0);
  });

  test('the code is preferred when the event carries the legacy pair too', async () => {
    const wx = fakeWx({ 'POST /v1/login': loginOk, 'POST /v1/phone': ticketOk });
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    const result = await sdk.loginWithPhone({
      detail: { errMsg: 'getPhoneNumber:ok', code: 'pc', encryptedData: 'ed', iv: 'iv' },
    });
    assert.deepEqual(wx.requests[1].data, { session: 'sess', code: 'pc' });
    assert.equal(result.registered, false);
    assert.equal(result.ticket, 'ticket-1');
    assert.equal(result.phone.phone_number, '+8613800138000');
    assert.equal(sdk.getPendingRegistration().ticket, 'ticket-1');
  });

  test('an old base library sends encrypted_data and iv', async () => {
    const wx = fakeWx({ 'POST /v1/login': loginOk, 'POST /v1/phone': ticketOk });
    await createWxLogin({ baseUrl: BASE, wx }).loginWithPhone({
      detail: { errMsg: 'getPhoneNumber:ok', encryptedData: 'ed', iv: 'iv' },
    });
    assert.deepEqual(wx.requests[1].data, { session: 'sess', encrypted_data: 'ed', iv: 'iv' });
  });

  test('session_key_stale logs in again, then asks for another tap', async () => {
    const wx = fakeWx({
      'POST /v1/login': loginOk,
      'POST /v1/phone': () => ({ statusCode: 422, data: errorBody('session_key_stale', 'req-9') }),
    });
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    const err = await sdk
      .loginWithPhone({ detail: { errMsg: 'getPhoneNumber:ok', encryptedData: 'ed', iv: 'iv' } })
      .catch((e) => e);
    assert.equal(err.code, 'session_key_stale');
    assert.equal(err.status, 422);
    assert.equal(err.requestId, 'req-9');
    assert.equal(err.message, messages.zh.session_key_stale, 'the SDK’s own text, Chinese by default');
    assert.equal(err.message, sdk.messageFor(err));
    assert.equal(wx.logins, 2, 'one login for the missing session, one after the stale key');
    assert.equal(wx.count('POST /v1/phone'), 1);

    const en = createWxLogin({ baseUrl: BASE, wx: fakeWx({ 'POST /v1/login': loginOk, 'POST /v1/phone': () => ({ statusCode: 422, data: errorBody('session_key_stale') }) }), locale: 'en' });
    const errEn = await en.loginWithPhone({ detail: { errMsg: 'getPhoneNumber:ok', encryptedData: 'ed', iv: 'iv' } }).catch((e) => e);
    assert.equal(errEn.message, 'Your WeChat login was renewed. Please tap the button again.');
  });

  test('session_key_stale for a user the new login signs in resolves as signed in', async () => {
    const wx = fakeWx({
      'POST /v1/login': (p, n) =>
        n === 1
          ? loginOk()
          : { statusCode: 200, data: { session: 's2', session_expires_in: 100, registered: true, user: USER, tokens: tokens(1) } },
      'POST /v1/phone': () => ({ statusCode: 422, data: errorBody('session_key_stale') }),
    });
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    const result = await sdk.loginWithPhone({ detail: { errMsg: 'getPhoneNumber:ok', encryptedData: 'ed', iv: 'iv' } });
    assert.deepEqual(result, { registered: true, user: USER });
    assert.equal(sdk.isLoggedIn(), true);
  });

  test('session_invalid logs in again and resends the same code once', async () => {
    const wx = fakeWx({
      'POST /v1/login': (p, n) => ({ statusCode: 200, data: { session: `sess-${n}`, session_expires_in: 100, registered: false } }),
      'POST /v1/phone': (p, n) => (n === 1 ? { statusCode: 401, data: errorBody('session_invalid') } : ticketOk()),
    });
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    const result = await sdk.loginWithPhone({ detail: { errMsg: 'getPhoneNumber:ok', code: 'pc' } });
    assert.equal(result.ticket, 'ticket-1');
    const phones = wx.requests.filter((r) => r.key === 'POST /v1/phone').map((r) => r.data);
    assert.deepEqual(phones, [
      { session: 'sess-1', code: 'pc' },
      { session: 'sess-2', code: 'pc' },
    ]);
  });
});

describe('register', () => {
  test('without a pending ticket it rejects with ticket_invalid and sends nothing', async () => {
    const wx = fakeWx();
    const err = await createWxLogin({ baseUrl: BASE, wx })
      .register({ nickname: 'Ann' })
      .catch((e) => e);
    assert.equal(err.code, 'ticket_invalid');
    assert.equal(wx.requests.length, 0);
  });

  test('it sends the stored ticket, nickname and avatar_url, then signs in', async () => {
    const wx = fakeWx({ 'POST /v1/register': () => ({ statusCode: 201, data: { user: USER, tokens: tokens(1) } }) });
    wx.setStorageSync('wxlogin:ticket', { ticket: 't1', phone: {}, expires_at: Date.now() + 60000 });
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    assert.deepEqual(await sdk.register({ nickname: 'Ann', avatarUrl: 'https://cdn.test/a.png' }), { user: USER });
    assert.deepEqual(wx.requests[0].data, { registration_ticket: 't1', nickname: 'Ann', avatar_url: 'https://cdn.test/a.png' });
    assert.equal(sdk.getPendingRegistration(), null);
    assert.equal(sdk.isLoggedIn(), true);
  });

  test('a spent ticket is forgotten', async () => {
    const wx = fakeWx({ 'POST /v1/register': () => ({ statusCode: 401, data: errorBody('ticket_invalid') }) });
    wx.setStorageSync('wxlogin:ticket', { ticket: 't1', phone: {}, expires_at: Date.now() + 60000 });
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    const err = await sdk.register({}).catch((e) => e);
    assert.equal(err.code, 'ticket_invalid');
    assert.equal(err.status, 401);
    assert.equal(sdk.getPendingRegistration(), null);
  });
});

describe('request and refresh', () => {
  test('it adds the bearer token and resolves with the WeChat response', async () => {
    const wx = signedInWx({
      'GET /v1/me': (p) => {
        assert.equal(bearer(p), 'Bearer access-0');
        assert.equal(p.header['X-Trace'], 'yes');
        return { statusCode: 200, data: { user: USER } };
      },
    });
    const res = await createWxLogin({ baseUrl: BASE, wx }).request({ url: '/v1/me', header: { 'X-Trace': 'yes' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.data, { user: USER });
  });

  test('concurrent 401s share one refresh and each request is repeated once', async () => {
    let release;
    const gate = new Promise((r) => (release = r));
    const wx = signedInWx({
      'GET /v1/me': (p) =>
        bearer(p) === 'Bearer access-1'
          ? { statusCode: 200, data: { user: USER } }
          : { statusCode: 401, data: errorBody('unauthenticated') },
      'POST /v1/token/refresh': async (p) => {
        assert.equal(p.data.refresh_token, 'refresh-0');
        await gate; // held open until every request has seen its 401
        return { statusCode: 200, data: { tokens: tokens(1) } };
      },
    });
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    const all = Promise.all([1, 2, 3, 4].map(() => sdk.request({ url: '/v1/me' })));
    while (wx.count('GET /v1/me') < 4) await new Promise(setImmediate);
    await new Promise(setImmediate);
    release();
    const results = await all;
    assert.equal(results.length, 4);
    assert.equal(wx.count('POST /v1/token/refresh'), 1);
    assert.equal(wx.count('GET /v1/me'), 8);
    assert.equal(wx.getStorageSync('wxlogin:tokens').refresh_token, 'refresh-1');
  });

  test('a 401 that arrives after another request refreshed reuses the new token', async () => {
    const wx = signedInWx({
      'GET /slow': async (p, n) => {
        if (n === 1) {
          while (wx.count('POST /v1/token/refresh') === 0 || wx.getStorageSync('wxlogin:tokens').access_token !== 'access-1') {
            await new Promise(setImmediate);
          }
          return { statusCode: 401, data: errorBody('unauthenticated') };
        }
        return { statusCode: 200, data: {} };
      },
      'GET /v1/me': (p) =>
        bearer(p) === 'Bearer access-1' ? { statusCode: 200, data: {} } : { statusCode: 401, data: errorBody('unauthenticated') },
      'POST /v1/token/refresh': () => ({ statusCode: 200, data: { tokens: tokens(1) } }),
    });
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    await Promise.all([sdk.request({ url: '/slow' }), sdk.request({ url: '/v1/me' })]);
    assert.equal(wx.count('POST /v1/token/refresh'), 1);
    assert.equal(bearer(wx.requests.filter((r) => r.key === 'GET /slow')[1]), 'Bearer access-1');
  });

  test('a second 401 after the refresh is not retried again', async () => {
    const wx = signedInWx({
      'GET /v1/me': () => ({ statusCode: 401, data: errorBody('unauthenticated') }),
      'POST /v1/token/refresh': () => ({ statusCode: 200, data: { tokens: tokens(1) } }),
    });
    const err = await createWxLogin({ baseUrl: BASE, wx })
      .request({ url: '/v1/me' })
      .catch((e) => e);
    assert.equal(err.code, 'unauthenticated');
    assert.equal(wx.count('POST /v1/token/refresh'), 1);
    assert.equal(wx.count('GET /v1/me'), 2);
  });

  test('an access token past its stored expiry is refreshed before the request', async () => {
    const wx = signedInWx(
      {
        'GET /v1/me': (p) => {
          assert.equal(bearer(p), 'Bearer access-1');
          return { statusCode: 200, data: {} };
        },
        'POST /v1/token/refresh': () => ({ statusCode: 200, data: { tokens: tokens(1) } }),
      },
      { expires_at: Date.now() - 1000 }
    );
    await createWxLogin({ baseUrl: BASE, wx }).request({ url: '/v1/me' });
    assert.equal(wx.count('GET /v1/me'), 1);
  });

  for (const code of ['refresh_token_invalid', 'refresh_token_reused']) {
    test(`${code} clears the tokens and surfaces unauthenticated`, async () => {
      const wx = signedInWx({
        'GET /v1/me': () => ({ statusCode: 401, data: errorBody('unauthenticated') }),
        'POST /v1/token/refresh': () => ({ statusCode: 401, data: errorBody(code, 'req-r') }),
      });
      wx.setStorageSync('wxlogin:user', USER);
      const sdk = createWxLogin({ baseUrl: BASE, wx });
      const err = await sdk.request({ url: '/v1/me' }).catch((e) => e);
      assert.equal(err.code, 'unauthenticated');
      assert.equal(err.reason, code);
      assert.equal(err.requestId, 'req-r');
      assert.equal(wx.getStorageSync('wxlogin:tokens'), '');
      assert.equal(wx.getStorageSync('wxlogin:user'), '');
      assert.equal(sdk.isLoggedIn(), false);
    });
  }

  test('a network failure during refresh keeps the tokens', async () => {
    const wx = signedInWx({
      'GET /v1/me': () => ({ statusCode: 401, data: errorBody('unauthenticated') }),
      'POST /v1/token/refresh': () => 'fail',
    });
    const err = await createWxLogin({ baseUrl: BASE, wx })
      .request({ url: '/v1/me' })
      .catch((e) => e);
    assert.equal(err.code, 'network_error');
    assert.equal(wx.getStorageSync('wxlogin:tokens').refresh_token, 'refresh-0');
  });

  test('without tokens, request rejects with unauthenticated and sends nothing', async () => {
    const wx = fakeWx();
    const err = await createWxLogin({ baseUrl: BASE, wx })
      .request({ url: '/v1/me' })
      .catch((e) => e);
    assert.equal(err.code, 'unauthenticated');
    assert.equal(wx.requests.length, 0);
  });
});

describe('logout and storage', () => {
  test('logout revokes on the server and clears every key', async () => {
    const wx = signedInWx({
      'POST /v1/logout': (p) => {
        assert.equal(bearer(p), 'Bearer access-0');
        assert.deepEqual(p.data, { all_devices: true });
        return { statusCode: 204, data: '' };
      },
    });
    wx.setStorageSync('wxlogin:session', { value: 's', expires_at: Date.now() + 1e6 });
    wx.setStorageSync('wxlogin:user', USER);
    const sdk = createWxLogin({ baseUrl: BASE, wx });
    assert.deepEqual(await sdk.logout({ allDevices: true }), { revoked: true });
    assert.equal(wx.storage.size, 0);
    assert.equal(sdk.getUser(), null);
  });

  test('logout while offline still signs out locally', async () => {
    const wx = signedInWx({ 'POST /v1/logout': () => 'fail' });
    assert.deepEqual(await createWxLogin({ baseUrl: BASE, wx }).logout(), { revoked: false });
    assert.equal(wx.storage.size, 0);
  });

  test('a custom storage and prefix are used instead of wx storage', async () => {
    const wx = fakeWx({
      'POST /v1/login': () => ({
        statusCode: 200,
        data: { session: 's', session_expires_in: 100, registered: true, user: USER, tokens: tokens(1) },
      }),
    });
    const kept = {};
    const storage = {
      get: (k) => kept[k],
      set: (k, v) => (kept[k] = JSON.stringify(v)), // a string-only store
      remove: (k) => delete kept[k],
    };
    const sdk = createWxLogin({ baseUrl: BASE, wx, storage, storagePrefix: 'app1/' });
    await sdk.login();
    assert.equal(wx.storage.size, 0);
    assert.deepEqual(Object.keys(kept).sort(), ['app1/session', 'app1/tokens', 'app1/user']);
    assert.equal(sdk.isLoggedIn(), true);
    assert.deepEqual(sdk.getUser(), USER);
  });

  test('tokens never appear in an error message', async () => {
    const wx = signedInWx({
      'GET /v1/me': () => ({ statusCode: 401, data: errorBody('unauthenticated') }),
      'POST /v1/token/refresh': () => ({ statusCode: 401, data: errorBody('refresh_token_invalid') }),
    });
    const err = await createWxLogin({ baseUrl: BASE, wx })
      .request({ url: '/v1/me' })
      .catch((e) => e);
    assert.doesNotMatch(`${err.message} ${JSON.stringify(err)}`, /access-0|refresh-0/);
  });
});

describe('platforms: wx, uni-app and Taro conventions', () => {
  // The same fake, dressed: promise-only (Taro), callbacks or a promise (uni-app, Vue 3),
  // callbacks or a promise of [err, res] (uni-app, Vue 2), and both at once.
  const ASYNC = ['login', 'request', 'uploadFile'];
  const SIGNED_IN = { statusCode: 200, data: { session: 's', session_expires_in: 100, registered: true, user: USER, tokens: tokens(1) } };

  function dressed(wx, call) {
    const p = Object.create(wx);
    for (const name of ASYNC) p[name] = (options) => call(wx, name, options);
    return p;
  }
  const promiseOnly = (wx) =>
    dressed(wx, (base, name, { success, fail, ...rest }) => new Promise((resolve, reject) => base[name]({ ...rest, success: resolve, fail: reject })));
  const vue2 = (wx) =>
    dressed(wx, (base, name, options) => {
      if (options.success || options.fail) return base[name](options);
      return new Promise((resolve) => base[name]({ ...options, success: (r) => resolve([null, r]), fail: (e) => resolve([e, undefined]) }));
    });
  const vue2PromiseOnly = (wx) =>
    dressed(wx, (base, name, { success, fail, ...rest }) => new Promise((resolve) => base[name]({ ...rest, success: (r) => resolve([null, r]), fail: (e) => resolve([e, undefined]) })));
  const both = (wx) =>
    dressed(wx, (base, name, options) => new Promise((resolve, reject) => base[name]({ ...options, success: (r) => { options.success(r); resolve(r); }, fail: (e) => { options.fail(e); reject(e); } })));

  for (const [label, dress] of [['promise only (Taro)', promiseOnly], ['[err, res] promises (uni-app, Vue 2)', vue2PromiseOnly], ['callbacks with a promise besides (uni-app, Vue 2)', vue2], ['callbacks and a promise both answering', both]]) {
    test(`${label}: login, request and uploadFile work, each answer counted once`, async () => {
      const wx = fakeWx({
        'POST /v1/login': () => SIGNED_IN,
        'GET /v1/me': () => ({ statusCode: 200, data: { user: USER } }),
        'UPLOAD /v1/avatar': () => ({ statusCode: 201, data: { avatar_url: 'https://auth.test/avatars/a1' } }),
      });
      const sdk = createWxLogin({ baseUrl: BASE, platform: dress(wx) });
      assert.deepEqual(await sdk.login(), { registered: true, user: USER });
      assert.deepEqual((await sdk.request({ url: '/v1/me' })).data, { user: USER });
      assert.deepEqual(await sdk.uploadAvatar('http://tmp/a.png'), { avatarUrl: 'https://auth.test/avatars/a1' });
      assert.equal(wx.logins, 1);
      assert.equal(wx.requests.length, 3);
    });

    test(`${label}: a failure is network_error`, async () => {
      const wx = fakeWx({ 'POST /v1/login': () => 'fail' });
      const err = await createWxLogin({ baseUrl: BASE, platform: dress(wx) }).login().catch((e) => e);
      assert.equal(err.code, 'network_error');
      assert.match(err.message, /request:fail timeout/);
    });
  }

  test('a platform call that throws is network_error', async () => {
    const wx = fakeWx();
    wx.request = () => {
      throw new Error('no network API here');
    };
    const err = await createWxLogin({ baseUrl: BASE, platform: wx }).request({ url: '/x' }).catch((e) => e);
    assert.equal(err.code, 'unauthenticated', 'not signed in: nothing is sent');
    wx.setStorageSync('wxlogin:tokens', { access_token: 'a', expires_at: Date.now() + 600000, refresh_token: 'r', refresh_expires_at: Date.now() + 1e6 });
    const thrown = await createWxLogin({ baseUrl: BASE, platform: wx }).request({ url: '/x' }).catch((e) => e);
    assert.equal(thrown.code, 'network_error');
    assert.match(thrown.message, /no network API here/);
  });

  test('a rejected promise from login is network_error, and nothing is sent', async () => {
    const wx = fakeWx();
    const p = Object.create(wx);
    p.login = () => Promise.reject(new Error('login:fail auth deny'));
    const err = await createWxLogin({ baseUrl: BASE, platform: p }).login().catch((e) => e);
    assert.equal(err.code, 'network_error');
    assert.match(err.message, /auth deny/);
    assert.equal(wx.requests.length, 0);
  });

  test('`wx` is still accepted as the platform option’s former name; none at all is a TypeError', () => {
    assert.doesNotThrow(() => createWxLogin({ baseUrl: BASE, wx: fakeWx() }));
    assert.throws(() => createWxLogin({ baseUrl: BASE }), /options\.platform/);
    assert.throws(() => createWxLogin({ baseUrl: BASE, platform: fakeWx(), locale: 'fr' }), TypeError);
  });
});

describe('language and texts', () => {
  const ok = () => ({ statusCode: 200, data: { session: 's', session_expires_in: 100, registered: false } });
  const withLanguage = (info) => Object.assign(fakeWx({ 'POST /v1/login': ok, 'GET /ext': () => ({ statusCode: 200, data: {} }) }), info);

  for (const [label, info, header, locale] of [
    ['getAppBaseInfo().language zh_CN', { getAppBaseInfo: () => ({ language: 'zh_CN' }) }, 'zh-CN', 'zh'],
    ['uni-app’s appLanguage first', { getAppBaseInfo: () => ({ language: 'en', appLanguage: 'zh-Hans' }) }, 'zh-Hans', 'zh'],
    ['getSystemInfoSync() when getAppBaseInfo is missing', { getSystemInfoSync: () => ({ language: 'en_US' }) }, 'en-US', 'en'],
    ['getSystemInfoSync() when getAppBaseInfo throws', { getAppBaseInfo: () => { throw new Error('nope'); }, getSystemInfoSync: () => ({ language: 'zh_TW' }) }, 'zh-TW', 'zh'],
    ['nothing to read: Chinese', {}, 'zh-CN', 'zh'],
  ]) {
    test(`Accept-Language from ${label}`, async () => {
      const wx = withLanguage(info);
      const sdk = createWxLogin({ baseUrl: BASE, platform: wx });
      await sdk.login();
      assert.equal(wx.requests[0].header['Accept-Language'], header);
      assert.equal(sdk.messageFor('rate_limited'), messages[locale].rate_limited);
    });
  }

  test('locale decides the texts and the Accept-Language; a caller’s own header wins', async () => {
    const wx = signedInWx({ 'POST /v1/login': ok, 'GET /ext': () => ({ statusCode: 200, data: {} }) });
    wx.getAppBaseInfo = () => ({ language: 'zh_CN' });
    const en = createWxLogin({ baseUrl: BASE, platform: wx, locale: 'en' });
    await en.login();
    assert.equal(wx.requests[0].header['Accept-Language'], 'en');
    assert.equal(en.messageFor({ code: 'phone_taken' }), 'This phone number belongs to another account.');
    const zh = createWxLogin({ baseUrl: BASE, platform: wx, locale: 'zh' });
    assert.equal(zh.messageFor('phone_taken'), '该手机号已被其他账号使用');

    const withTokens = signedInWx({ 'GET /ext': () => ({ statusCode: 200, data: {} }) });
    await createWxLogin({ baseUrl: BASE, platform: withTokens }).request({ url: 'https://api.test/ext', header: { 'accept-language': 'fr' } });
    assert.equal(withTokens.requests[0].header['accept-language'], 'fr');
    assert.equal(withTokens.requests[0].header['Accept-Language'], undefined);
  });

  test('an unknown code, or none, gets the generic text', () => {
    const sdk = createWxLogin({ baseUrl: BASE, platform: fakeWx() });
    assert.equal(sdk.messageFor('something_new'), '操作失败，请稍后再试');
    assert.equal(sdk.messageFor(undefined), '操作失败，请稍后再试');
    assert.equal(sdk.messageFor(new Error('plain')), '操作失败，请稍后再试');
    assert.equal(createWxLogin({ baseUrl: BASE, platform: fakeWx(), locale: 'en' }).messageFor('toString'), 'Something went wrong. Please try again.');
  });

  // The codes of index.d.ts's WxLoginErrorCode, and the non-admin codes of docs/api.md's table.
  const DTS = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');
  const union = /export type WxLoginErrorCode =([\s\S]*?);\n/.exec(DTS)[1];
  const typedCodes = [...union.matchAll(/\|\s*'([a-z_]+)'/g)].map((m) => m[1]);
  const API = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'api.md'), 'utf8');
  const table = API.slice(API.indexOf('## Errors'), API.indexOf('## Endpoints'));
  const ADMIN_ONLY = ['admin_unauthenticated', 'admin_forbidden', 'user_not_found', 'external_id_taken', 'import_invalid'];
  const contractCodes = [...table.matchAll(/^\|\s*\d{3}\s*\|\s*`([a-z_]+)`/gm)].map((m) => m[1]);

  test('every code the SDK maps has a text in Chinese and in English', () => {
    const zh = Object.keys(messages.zh).sort();
    const en = Object.keys(messages.en).sort();
    assert.deepEqual(zh.filter((c) => !en.includes(c)), [], 'codes with Chinese text only');
    assert.deepEqual(en.filter((c) => !zh.includes(c)), [], 'codes with English text only');
    for (const locale of ['zh', 'en']) {
      for (const [code, text] of Object.entries(messages[locale])) {
        assert.equal(typeof text, 'string', `${locale}.${code}`);
        assert.ok(text.trim().length > 0, `${locale}.${code} is empty`);
      }
    }
    for (const code of zh) assert.doesNotMatch(messages.zh[code], /^[\x20-\x7e]+$/, `zh.${code} is not Chinese`);
    for (const code of en) assert.doesNotMatch(messages.en[code], /[\u4e00-\u9fff]/, `en.${code} is not English`);
    assert.ok(Object.isFrozen(messages) && Object.isFrozen(messages.zh));
  });

  test('every error code of the contract (but the admin API’s) and of index.d.ts has its texts', () => {
    assert.ok(contractCodes.length >= 30, `read ${contractCodes.length} codes from docs/api.md`);
    const missingType = contractCodes.filter((c) => !ADMIN_ONLY.includes(c) && !typedCodes.includes(c));
    assert.deepEqual(missingType, [], 'codes of docs/api.md missing from WxLoginErrorCode in index.d.ts');
    assert.deepEqual(typedCodes.filter((c) => !(c in messages.zh) || !(c in messages.en)), [], 'typed codes without texts');
    assert.deepEqual(Object.keys(messages.zh).filter((c) => !typedCodes.includes(c)), [], 'texts for codes index.d.ts does not list');
  });
});

describe('the account', () => {
  const loginAs = (user) => () => ({ statusCode: 200, data: { session: 'fresh-session', session_expires_in: 2592000, registered: true, user, tokens: tokens(1) } });
  const meOk = (user = USER) => ({ statusCode: 200, data: { user } });

  test('updateProfile sends only what is given (null clears the avatar) and keeps the user', async () => {
    const changed = { ...USER, nickname: 'Bea', avatar_url: null, created_at: '2026-01-01T00:00:00Z' };
    const wx = signedInWx({ 'PATCH /v1/me': () => meOk(changed) });
    const sdk = createWxLogin({ baseUrl: BASE, platform: wx });
    assert.deepEqual(await sdk.updateProfile({ nickname: 'Bea', avatarUrl: null }), { user: changed });
    assert.deepEqual(wx.requests[0].data, { nickname: 'Bea', avatar_url: null });
    assert.equal(bearer(wx.requests[0]), 'Bearer access-0');
    assert.deepEqual(sdk.getUser(), changed);
    await sdk.updateProfile({ avatarUrl: 'https://cdn.test/b.png' });
    assert.deepEqual(wx.requests[1].data, { avatar_url: 'https://cdn.test/b.png' });
  });

  test('the account calls refresh a refused token once, like request()', async () => {
    const wx = signedInWx({
      'GET /v1/me/export': (p) => (bearer(p) === 'Bearer access-1' ? { statusCode: 200, data: { user: { user_id: 'u1' }, identities: [] } } : { statusCode: 401, data: errorBody('unauthenticated') }),
      'POST /v1/token/refresh': () => ({ statusCode: 200, data: { tokens: tokens(1) } }),
    });
    const data = await createWxLogin({ baseUrl: BASE, platform: wx }).exportAccount();
    assert.deepEqual(data, { user: { user_id: 'u1' }, identities: [] });
    assert.equal(wx.count('POST /v1/token/refresh'), 1);
  });

  test('a 401 with another code than unauthenticated is not a token problem: no refresh', async () => {
    const wx = signedInWx({
      'POST /v1/me/phone': () => ({ statusCode: 401, data: errorBody('session_invalid') }),
      'POST /v1/login': loginAs(USER),
    });
    const err = await createWxLogin({ baseUrl: BASE, platform: wx })
      .changePhone({ detail: { errMsg: 'getPhoneNumber:ok', code: 'pc' } })
      .catch((e) => e);
    assert.equal(err.code, 'session_invalid');
    assert.equal(wx.count('POST /v1/token/refresh'), 0);
    assert.equal(wx.count('POST /v1/me/phone'), 1);
  });

  describe('uploadAvatar', () => {
    const created = () => ({ statusCode: 201, data: { avatar_url: 'https://auth.test/avatars/a1' } });

    test('signed in: the bearer token and the file as `file`, no ticket; resolves {avatarUrl}', async () => {
      const wx = signedInWx({ 'UPLOAD /v1/avatar': created });
      wx.getAppBaseInfo = () => ({ language: 'zh_CN' });
      const sdk = createWxLogin({ baseUrl: BASE, platform: wx, timeout: 5000 });
      assert.deepEqual(await sdk.uploadAvatar('http://tmp/a.jpeg'), { avatarUrl: 'https://auth.test/avatars/a1' });
      const [sent] = wx.requests;
      assert.equal(sent.url, 'https://auth.test/v1/avatar');
      assert.equal(sent.filePath, 'http://tmp/a.jpeg');
      assert.equal(sent.name, 'file');
      assert.equal(sent.data, undefined);
      assert.equal(sent.header.Authorization, 'Bearer access-0');
      assert.equal(sent.header['Accept-Language'], 'zh-CN');
    });

    test('signed in with a refused token: one refresh, one repeat', async () => {
      const wx = signedInWx({
        'UPLOAD /v1/avatar': (p) => (p.header.Authorization === 'Bearer access-1' ? created() : { statusCode: 401, data: errorBody('unauthenticated') }),
        'POST /v1/token/refresh': () => ({ statusCode: 200, data: { tokens: tokens(1) } }),
      });
      await createWxLogin({ baseUrl: BASE, platform: wx }).uploadAvatar('http://tmp/a.png');
      assert.equal(wx.count('UPLOAD /v1/avatar'), 2);
      assert.equal(wx.count('POST /v1/token/refresh'), 1);
    });

    test('on the registration page: the pending ticket, or the one given, as a form field', async () => {
      const wx = fakeWx({ 'UPLOAD /v1/avatar': created });
      wx.setStorageSync('wxlogin:ticket', { ticket: 't-pending', phone: {}, expires_at: Date.now() + 60000 });
      const sdk = createWxLogin({ baseUrl: BASE, platform: wx });
      await sdk.uploadAvatar('http://tmp/a.png');
      await sdk.uploadAvatar('http://tmp/b.png', { registrationTicket: 't-given' });
      assert.deepEqual(wx.requests.map((r) => r.data), [{ registration_ticket: 't-pending' }, { registration_ticket: 't-given' }]);
      assert.ok(wx.requests.every((r) => r.header.Authorization === undefined));
      assert.equal(sdk.getPendingRegistration().ticket, 't-pending', 'the upload does not spend the ticket');
    });

    test('errors: image_invalid, payload_too_large, ticket_invalid (no refresh for a ticket)', async () => {
      for (const [code, status] of [['image_invalid', 422], ['payload_too_large', 413], ['ticket_invalid', 401]]) {
        const wx = fakeWx({ 'UPLOAD /v1/avatar': () => ({ statusCode: status, data: errorBody(code, 'req-up') }) });
        const err = await createWxLogin({ baseUrl: BASE, platform: wx })
          .uploadAvatar('http://tmp/a.png', { registrationTicket: 't' })
          .catch((e) => e);
        assert.equal(err.code, code);
        assert.equal(err.status, status);
        assert.equal(err.requestId, 'req-up');
        assert.equal(wx.requests.length, 1);
      }
    });

    test('neither signed in nor a registration pending: unauthenticated, nothing sent; no path: TypeError', async () => {
      const wx = fakeWx();
      const sdk = createWxLogin({ baseUrl: BASE, platform: wx });
      const err = await sdk.uploadAvatar('http://tmp/a.png').catch((e) => e);
      assert.equal(err.code, 'unauthenticated');
      assert.equal(err.status, 0);
      await assert.rejects(sdk.uploadAvatar(''), TypeError);
      assert.equal(wx.requests.length, 0);
    });

    test('a lost network is network_error', async () => {
      const wx = signedInWx({ 'UPLOAD /v1/avatar': () => 'fail' });
      const err = await createWxLogin({ baseUrl: BASE, platform: wx }).uploadAvatar('http://tmp/a.png').catch((e) => e);
      assert.equal(err.code, 'network_error');
      assert.match(err.message, /uploadFile:fail timeout/);
    });
  });

  describe('changePhone', () => {
    const tap = { detail: { errMsg: 'getPhoneNumber:ok', code: 'pc' } };
    const changed = { ...USER, phone_masked: '+86 139****9000' };

    test('a fresh login, then POST /v1/me/phone with its session and the new tokens; keeps the user', async () => {
      const wx = signedInWx({
        'POST /v1/login': loginAs(USER),
        'POST /v1/me/phone': (p) => {
          assert.equal(bearer(p), 'Bearer access-1', 'the tokens of the fresh login');
          assert.deepEqual(p.data, { session: 'fresh-session', code: 'pc' });
          return meOk(changed);
        },
      });
      wx.setStorageSync('wxlogin:session', { value: 'old-session', expires_at: Date.now() + 1e9 });
      const sdk = createWxLogin({ baseUrl: BASE, platform: wx });
      assert.deepEqual(await sdk.changePhone(tap), { user: changed });
      assert.equal(wx.logins, 1);
      assert.deepEqual(sdk.getUser(), changed);
    });

    test('legacy encryptedData is sent as encrypted_data + iv; session_key_stale asks for another tap', async () => {
      const wx = signedInWx({
        'POST /v1/login': loginAs(USER),
        'POST /v1/me/phone': () => ({ statusCode: 422, data: errorBody('session_key_stale', 'req-s') }),
      });
      const sdk = createWxLogin({ baseUrl: BASE, platform: wx });
      const err = await sdk.changePhone({ detail: { errMsg: 'getPhoneNumber:ok', encryptedData: 'ed', iv: 'iv' } }).catch((e) => e);
      assert.deepEqual(wx.requests.find((r) => r.key === 'POST /v1/me/phone').data, { session: 'fresh-session', encrypted_data: 'ed', iv: 'iv' });
      assert.equal(err.code, 'session_key_stale');
      assert.equal(err.requestId, 'req-s');
      assert.equal(err.message, messages.zh.session_key_stale);
      assert.equal(sdk.isLoggedIn(), true);
    });

    test('phone_taken comes through as it is', async () => {
      const wx = signedInWx({ 'POST /v1/login': loginAs(USER), 'POST /v1/me/phone': () => ({ statusCode: 409, data: errorBody('phone_taken') }) });
      const err = await createWxLogin({ baseUrl: BASE, platform: wx }).changePhone(tap).catch((e) => e);
      assert.equal(err.code, 'phone_taken');
      assert.equal(err.status, 409);
    });

    test('a refusal, or no sign-in: rejected before anything is sent', async () => {
      const refused = signedInWx();
      const denied = await createWxLogin({ baseUrl: BASE, platform: refused }).changePhone({ detail: { errMsg: 'getPhoneNumber:fail user deny' } }).catch((e) => e);
      assert.equal(denied.code, 'permission_denied');
      const nobody = fakeWx();
      const err = await createWxLogin({ baseUrl: BASE, platform: nobody }).changePhone(tap).catch((e) => e);
      assert.equal(err.code, 'unauthenticated');
      assert.equal(refused.requests.length + nobody.requests.length + refused.logins + nobody.logins, 0);
    });

    test('a WeChat account that no longer has an account: unauthenticated, signed out, no phone call', async () => {
      const wx = signedInWx({ 'POST /v1/login': () => ({ statusCode: 200, data: { session: 's', session_expires_in: 100, registered: false } }) });
      const sdk = createWxLogin({ baseUrl: BASE, platform: wx });
      const err = await sdk.changePhone(tap).catch((e) => e);
      assert.equal(err.code, 'unauthenticated');
      assert.equal(sdk.isLoggedIn(), false);
      assert.equal(wx.count('POST /v1/me/phone'), 0);
    });
  });

  test('deleteAccount: DELETE /v1/me, then every stored key is gone', async () => {
    const wx = signedInWx({ 'DELETE /v1/me': (p) => (assert.equal(bearer(p), 'Bearer access-0'), { statusCode: 204, data: '' }) });
    wx.setStorageSync('wxlogin:session', { value: 's', expires_at: Date.now() + 1e6 });
    wx.setStorageSync('wxlogin:user', USER);
    const sdk = createWxLogin({ baseUrl: BASE, platform: wx });
    assert.equal(await sdk.deleteAccount(), undefined);
    assert.equal(wx.storage.size, 0);
    assert.equal(sdk.isLoggedIn(), false);
  });

  test('deleteAccount that fails keeps everything: the account still exists', async () => {
    for (const answer of ['fail', { statusCode: 503, data: errorBody('unavailable') }]) {
      const wx = signedInWx({ 'DELETE /v1/me': () => answer });
      const err = await createWxLogin({ baseUrl: BASE, platform: wx }).deleteAccount().catch((e) => e);
      assert.ok(['network_error', 'unavailable'].includes(err.code));
      assert.equal(wx.getStorageSync('wxlogin:tokens').refresh_token, 'refresh-0');
    }
  });
});

describe('source', () => {
  const SOURCE = fs.readFileSync(path.join(__dirname, '..', 'index.js'), 'utf8');

  test('index.js uses no syntax newer than ES2017 and no Node API', () => {
    // Comments, strings and the few regex literals out of the way, then look for the usual
    // newcomers: optional chaining, nullish coalescing, spread/rest, optional catch binding.
    const code = SOURCE.replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/(^|[^:])\/\/.*$/gm, '$1')
      .replace(/'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|`(?:\\.|[^`\\])*`/g, '""')
      .replace(/\/(?:\\.|[^/\\\n])+\/[gimsuy]*/g, '/re/');
    assert.doesNotMatch(code, /\?\.(?!\d)/, 'optional chaining');
    assert.doesNotMatch(code, /\?\?/, 'nullish coalescing');
    assert.doesNotMatch(code, /\.\.\./, 'spread / rest (object spread is ES2018)');
    assert.doesNotMatch(code, /catch\s*\{/, 'optional catch binding');
    assert.doesNotMatch(code, /\.finally\(|Object\.fromEntries|\.flat\(|\.flatMap\(|globalThis/, 'post-ES2017 API');
    assert.doesNotMatch(code, /require\(/, 'a dependency');
    assert.doesNotMatch(code, /\bprocess\.|\bBuffer\b|\bfetch\(|console\./, 'Node-only API or logging');
  });

  test('the example mini program carries an up-to-date copy (npm run sync-example)', () => {
    assert.equal(fs.readFileSync(sync.TARGET, 'utf8'), sync.expected());
  });
});
