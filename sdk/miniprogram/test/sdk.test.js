// The SDK against a scripted fake `wx`: no server. Error mapping, single-flight refresh,
// retries, storage, and the source's own constraints (ES2017, the example's copy).
'use strict';

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { createWxLogin, WxLoginError } = require('..');
const sync = require('../scripts/sync-example');

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
    assert.match(err.message, /tap the button again/);
    assert.equal(wx.logins, 2, 'one login for the missing session, one after the stale key');
    assert.equal(wx.count('POST /v1/phone'), 1);
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
