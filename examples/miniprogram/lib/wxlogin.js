// A copy of sdk/miniprogram/index.js: a mini program can only require files under its own
// root. Do not edit it here; change the SDK and run `npm run sync-example` in sdk/miniprogram.
/*
 * @wxlogin/miniprogram: the WeChat Mini Program client of a wxlogin server.
 *
 * Runs in the mini program runtime: no dependencies, no Node APIs, ES2017 syntax only (no `?.`,
 * `??`, object spread or class fields), CommonJS because mini programs `require` it.
 *
 *   const { createWxLogin } = require('./lib/wxlogin.js')
 *   const wxlogin = createWxLogin({ baseUrl: 'https://auth.example.com' })
 *   await wxlogin.login()                 // wx.login -> POST /v1/login
 *   await wxlogin.loginWithPhone(e)       // getPhoneNumber button -> POST /v1/phone
 *   await wxlogin.register({ nickname })  // POST /v1/register with the ticket
 *   await wxlogin.request({ url: '/v1/me' })
 *   await wxlogin.logout()
 *
 * Layout: WxLoginError; storage (what is kept, under which keys); transport (wx.login and
 * wx.request as promises, error mapping); createWxLogin (the flow).
 *
 * Tokens, the session and the ticket are never logged and never put into error messages.
 */
'use strict';

var DEFAULT_PREFIX = 'wxlogin:';
// Refresh a little before the access token's own expiry, so a request sent just before it
// does not reach the server just after it.
var ACCESS_MARGIN_MS = 30 * 1000;
var SESSION_MARGIN_MS = 60 * 1000;

/* ------------------------------------------------------------------------------------------ */
/* WxLoginError                                                                                */

/**
 * Every rejection of the SDK's promises is a WxLoginError (apart from TypeErrors for calls
 * that cannot be right, such as a missing baseUrl).
 *
 * `code` is the server's stable error code from docs/api.md (`session_key_stale`,
 * `unauthenticated`, ...), or one of the SDK's own: `network_error` (wx.login or wx.request
 * failed, nothing usable came back), `permission_denied` (the user refused the phone number),
 * `http_error` (a non-2xx answer without the wxlogin error body, from another API).
 * `status` is the HTTP status, 0 when no response was involved.
 */
class WxLoginError extends Error {
  constructor(code, message, fields) {
    super(message || code);
    // Keeps `instanceof` working where DevTools compiles classes down to ES5.
    Object.setPrototypeOf(this, WxLoginError.prototype);
    var f = fields || {};
    this.name = 'WxLoginError';
    this.code = code;
    this.status = typeof f.status === 'number' ? f.status : 0;
    this.requestId = f.requestId || null;
    if (f.wechatErrcode !== undefined) this.wechatErrcode = f.wechatErrcode;
    if (f.retryAfter !== undefined) this.retryAfter = f.retryAfter;
    if (f.reason !== undefined) this.reason = f.reason;
    if (f.data !== undefined) this.data = f.data;
  }
}

function isError(err, codes) {
  return !!err && err.name === 'WxLoginError' && codes.indexOf(err.code) !== -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Storage                                                                                      */

// Keys under the prefix:
//   session  {value, expires_at}                      the pre-sign-in session of POST /v1/login
//   tokens   {access_token, expires_at, refresh_token, refresh_expires_at}
//   user     the user object of the last sign-in
//   ticket   {ticket, phone, expires_at}               a pending registration
var KEYS = ['session', 'tokens', 'user', 'ticket'];

function wxStorage(wxApi) {
  return {
    get: function (key) {
      return wxApi.getStorageSync(key);
    },
    set: function (key, value) {
      wxApi.setStorageSync(key, value);
    },
    remove: function (key) {
      wxApi.removeStorageSync(key);
    },
  };
}

function makeStore(storage, prefix) {
  return {
    read: function (name) {
      var value;
      try {
        value = storage.get(prefix + name);
      } catch (e) {
        return null;
      }
      // wx.getStorageSync answers '' for a missing key.
      if (value === '' || value === undefined || value === null) return null;
      if (typeof value === 'string') {
        try {
          value = JSON.parse(value);
        } catch (e) {
          return null;
        }
      }
      return typeof value === 'object' ? value : null;
    },
    write: function (name, value) {
      storage.set(prefix + name, value);
    },
    remove: function (name) {
      try {
        storage.remove(prefix + name);
      } catch (e) {
        // Nothing to do: a key that cannot be removed is overwritten on the next write.
      }
    },
  };
}

/* ------------------------------------------------------------------------------------------ */
/* Transport                                                                                    */

function headerValue(header, name) {
  if (!header) return undefined;
  var wanted = name.toLowerCase();
  var keys = Object.keys(header);
  for (var i = 0; i < keys.length; i++) {
    if (keys[i].toLowerCase() === wanted) return header[keys[i]];
  }
  return undefined;
}

function parseBody(data) {
  if (typeof data !== 'string') return data;
  if (data === '') return null;
  try {
    return JSON.parse(data);
  } catch (e) {
    return data;
  }
}

/** The error a non-2xx answer stands for. */
function errorFromResponse(res) {
  var data = parseBody(res.data);
  var status = res.statusCode;
  var headerId = headerValue(res.header, 'x-request-id');
  var retryAfter = headerValue(res.header, 'retry-after');
  var fields = {
    status: status,
    requestId: headerId || null,
    retryAfter: retryAfter === undefined ? undefined : Number(retryAfter),
  };
  var body = data && typeof data === 'object' ? data.error : null;
  if (body && typeof body === 'object' && typeof body.code === 'string') {
    fields.requestId = body.request_id || fields.requestId;
    if (body.wechat_errcode !== undefined) fields.wechatErrcode = body.wechat_errcode;
    return new WxLoginError(body.code, body.message || body.code, fields);
  }
  fields.data = data;
  return new WxLoginError('http_error', 'HTTP ' + status, fields);
}

function unauthenticated(message, fields) {
  return new WxLoginError('unauthenticated', message || 'Not signed in', fields || { status: 401 });
}

/* ------------------------------------------------------------------------------------------ */
/* createWxLogin                                                                               */

/**
 * @param {object} options
 * @param {string} options.baseUrl  the wxlogin server, e.g. 'https://auth.example.com'
 * @param {string} [options.appid]  sent with /v1/login; needed when the server has several apps
 * @param {{get(key: string): any, set(key: string, value: any): void, remove(key: string): void}} [options.storage]
 *   synchronous key-value storage; default wx.getStorageSync / setStorageSync / removeStorageSync
 * @param {string} [options.storagePrefix='wxlogin:']
 * @param {number} [options.timeout]  wx.request timeout in ms
 * @param {object} [options.wx]  the `wx` API object; default the global `wx`
 */
function createWxLogin(options) {
  if (!options || typeof options.baseUrl !== 'string' || options.baseUrl === '') {
    throw new TypeError('createWxLogin: options.baseUrl is required');
  }
  var wxApi = options.wx || (typeof wx !== 'undefined' ? wx : null); // eslint-disable-line no-undef
  if (!wxApi) throw new TypeError('createWxLogin: no `wx` object (pass options.wx outside WeChat)');
  var baseUrl = options.baseUrl.replace(/\/+$/, '');
  var appid = options.appid;
  var timeout = options.timeout;
  var prefix = typeof options.storagePrefix === 'string' ? options.storagePrefix : DEFAULT_PREFIX;
  var store = makeStore(options.storage || wxStorage(wxApi), prefix);

  var loggingIn = null; // the login() in flight, shared by concurrent callers
  var refreshing = null; // the refresh in flight, shared by concurrent 401s

  function now() {
    return Date.now();
  }

  function urlFor(url) {
    return /^https?:\/\//i.test(url) ? url : baseUrl + (url.charAt(0) === '/' ? '' : '/') + url;
  }

  /** wx.request as a promise of the WeChat response ({statusCode, data, header}). */
  function send(opts) {
    return new Promise(function (resolve, reject) {
      var params = {
        url: urlFor(opts.url),
        method: opts.method || 'GET',
        header: opts.header || {},
        dataType: 'json',
        success: resolve,
        fail: function (res) {
          var why = res && res.errMsg ? res.errMsg : 'request:fail';
          reject(new WxLoginError('network_error', 'The server could not be reached (' + why + ')'));
        },
      };
      if (opts.data !== undefined) params.data = opts.data;
      if (opts.timeout || timeout) params.timeout = opts.timeout || timeout;
      try {
        wxApi.request(params);
      } catch (e) {
        reject(new WxLoginError('network_error', 'wx.request threw: ' + (e && e.message)));
      }
    });
  }

  /** A call to the wxlogin API: resolves with the parsed body of a 2xx, rejects otherwise. */
  function api(method, path, body, accessToken) {
    var header = { 'content-type': 'application/json' };
    if (accessToken) header.Authorization = 'Bearer ' + accessToken;
    return send({ url: path, method: method, data: body, header: header }).then(function (res) {
      if (res.statusCode >= 200 && res.statusCode < 300) return parseBody(res.data);
      throw errorFromResponse(res);
    });
  }

  function wxLoginCode() {
    return new Promise(function (resolve, reject) {
      var fail = function (res) {
        var why = res && res.errMsg ? res.errMsg : 'login:fail';
        reject(new WxLoginError('network_error', 'wx.login failed (' + why + ')'));
      };
      try {
        wxApi.login({
          success: function (res) {
            if (res && res.code) resolve(res.code);
            else fail(res);
          },
          fail: fail,
        });
      } catch (e) {
        fail({ errMsg: 'login:fail ' + (e && e.message) });
      }
    });
  }

  /* ---- state ---- */

  function saveTokens(tokens) {
    var t = now();
    store.write('tokens', {
      access_token: tokens.access_token,
      expires_at: t + tokens.expires_in * 1000,
      refresh_token: tokens.refresh_token,
      refresh_expires_at: t + tokens.refresh_expires_in * 1000,
    });
  }

  function readTokens() {
    var tokens = store.read('tokens');
    if (!tokens || typeof tokens.refresh_token !== 'string') return null;
    return tokens;
  }

  function signedIn(user, tokens) {
    saveTokens(tokens);
    if (user) store.write('user', user);
    store.remove('ticket');
  }

  function signOutLocally() {
    store.remove('tokens');
    store.remove('user');
  }

  function currentSession() {
    var s = store.read('session');
    if (!s || typeof s.value !== 'string') return null;
    if (typeof s.expires_at === 'number' && s.expires_at - SESSION_MARGIN_MS <= now()) return null;
    return s.value;
  }

  /* ---- login ---- */

  async function loginNow() {
    var data;
    for (var attempt = 0; ; attempt++) {
      var body = { code: await wxLoginCode() };
      if (appid) body.appid = appid;
      try {
        data = await api('POST', '/v1/login', body);
        break;
      } catch (err) {
        // A code WeChat already saw (a double tap, a resumed page): one fresh wx.login.
        if (attempt === 0 && isError(err, ['login_code_used', 'login_code_invalid'])) continue;
        throw err;
      }
    }
    store.write('session', {
      value: data.session,
      expires_at: now() + (data.session_expires_in || 0) * 1000,
    });
    if (data.registered && data.tokens) {
      signedIn(data.user, data.tokens);
      return { registered: true, user: data.user || store.read('user') };
    }
    // This WeChat user is bound to no account: tokens kept from earlier are not theirs.
    signOutLocally();
    return { registered: false };
  }

  /**
   * wx.login -> POST /v1/login. Resolves {registered: true, user} (signed in silently) or
   * {registered: false} (the phone button is next). Concurrent calls share one wx.login.
   */
  function login() {
    if (!loggingIn) {
      loggingIn = loginNow().then(
        function (result) {
          loggingIn = null;
          return result;
        },
        function (err) {
          loggingIn = null;
          throw err;
        }
      );
    }
    return loggingIn;
  }

  /* ---- phone ---- */

  function phoneResult(data) {
    if (data.registered) {
      signedIn(data.user, data.tokens);
      return { registered: true, user: data.user };
    }
    store.write('ticket', {
      ticket: data.registration_ticket,
      phone: data.phone,
      expires_at: now() + (data.ticket_expires_in || 0) * 1000,
    });
    return { registered: false, phone: data.phone, ticket: data.registration_ticket };
  }

  /**
   * Takes the event of <button open-type="getPhoneNumber" bindgetphonenumber="...">.
   * Sends e.detail.code, or e.detail.encryptedData + iv on base libraries before 2.21.2.
   */
  async function loginWithPhone(event) {
    var detail = event && event.detail ? event.detail : {};
    var errMsg = typeof detail.errMsg === 'string' ? detail.errMsg : '';
    if (!/:ok$/.test(errMsg)) {
      throw new WxLoginError(
        'permission_denied',
        'The phone number was not shared' + (errMsg ? ' (' + errMsg + ')' : '')
      );
    }
    var proof;
    if (typeof detail.code === 'string' && detail.code !== '') {
      proof = { code: detail.code };
    } else if (detail.encryptedData && detail.iv) {
      proof = { encrypted_data: detail.encryptedData, iv: detail.iv };
    } else {
      throw new WxLoginError('invalid_request', 'The getPhoneNumber event has no code and no encryptedData');
    }

    var first;
    // Without a session, log in first; a user it signs in silently needs no phone step.
    if (!currentSession()) {
      first = await login();
      if (first.registered) return first;
    }
    var data;
    try {
      data = await api('POST', '/v1/phone', Object.assign({ session: currentSession() }, proof));
    } catch (err) {
      if (isError(err, ['session_invalid'])) {
        // The session ended server-side. It is checked before the code is used, so the same
        // code (or data, under the previous session_key's grace) works with a new session.
        store.remove('session');
        first = await login();
        if (first.registered) return first;
        data = await api('POST', '/v1/phone', Object.assign({ session: currentSession() }, proof));
      } else if (isError(err, ['session_key_stale'])) {
        // The encryptedData was made with a session_key the server no longer holds. Only a new
        // tap makes new data; log in now so that it is made with a key the server knows.
        var again = await login();
        if (again.registered) return { registered: true, user: again.user };
        throw new WxLoginError(
          'session_key_stale',
          'Your WeChat login was renewed. Please tap the button again.',
          { status: err.status, requestId: err.requestId }
        );
      } else {
        throw err;
      }
    }
    return phoneResult(data);
  }

  /* ---- register ---- */

  function getPendingRegistration() {
    var t = store.read('ticket');
    if (!t || typeof t.ticket !== 'string') return null;
    if (typeof t.expires_at === 'number' && t.expires_at <= now()) {
      store.remove('ticket');
      return null;
    }
    return { phone: t.phone, ticket: t.ticket, expiresAt: t.expires_at };
  }

  /** POST /v1/register with the ticket of the last loginWithPhone. Resolves {user}. */
  async function register(profile) {
    var p = profile || {};
    var pending = getPendingRegistration();
    var ticket = p.ticket || (pending ? pending.ticket : null);
    if (!ticket) {
      throw new WxLoginError('ticket_invalid', 'No registration is pending: call loginWithPhone first');
    }
    var body = { registration_ticket: ticket };
    if (typeof p.nickname === 'string' && p.nickname !== '') body.nickname = p.nickname;
    if (typeof p.avatarUrl === 'string' && p.avatarUrl !== '') body.avatar_url = p.avatarUrl;
    var data;
    try {
      data = await api('POST', '/v1/register', body);
    } catch (err) {
      // The ticket is spent or useless: the page goes back to the phone button.
      if (isError(err, ['ticket_invalid', 'already_registered', 'registration_closed'])) {
        store.remove('ticket');
      }
      throw err;
    }
    signedIn(data.user, data.tokens);
    return { user: data.user };
  }

  /* ---- tokens ---- */

  async function refreshNow() {
    var tokens = readTokens();
    if (!tokens || (typeof tokens.refresh_expires_at === 'number' && tokens.refresh_expires_at <= now())) {
      signOutLocally();
      throw unauthenticated('Not signed in');
    }
    var data;
    try {
      data = await api('POST', '/v1/token/refresh', { refresh_token: tokens.refresh_token });
    } catch (err) {
      if (isError(err, ['refresh_token_invalid', 'refresh_token_reused'])) {
        signOutLocally();
        throw unauthenticated('The sign-in has ended; please log in again', {
          status: err.status,
          requestId: err.requestId,
          reason: err.code,
        });
      }
      throw err;
    }
    saveTokens(data.tokens);
    return data.tokens.access_token;
  }

  /** One POST /v1/token/refresh at a time; concurrent callers share its outcome. */
  function refresh() {
    if (!refreshing) {
      refreshing = refreshNow().then(
        function (token) {
          refreshing = null;
          return token;
        },
        function (err) {
          refreshing = null;
          throw err;
        }
      );
    }
    return refreshing;
  }

  async function accessToken() {
    if (refreshing) return refreshing;
    var tokens = readTokens();
    if (!tokens) throw unauthenticated('Not signed in', { status: 0 });
    if (tokens.access_token && tokens.expires_at - ACCESS_MARGIN_MS > now()) return tokens.access_token;
    return refresh();
  }

  /**
   * wx.request with the bearer token. A 401 refreshes the tokens once and repeats the request.
   * Resolves with the WeChat response ({statusCode, data, header}) of a 2xx; rejects with a
   * WxLoginError otherwise (for a body without the wxlogin error shape: code 'http_error',
   * with the body in `err.data`).
   */
  async function request(opts) {
    if (!opts || typeof opts.url !== 'string') throw new TypeError('request: options.url is required');
    var withToken = function (token) {
      var header = Object.assign({}, opts.header || {});
      header.Authorization = 'Bearer ' + token;
      return send({ url: opts.url, method: opts.method, data: opts.data, header: header, timeout: opts.timeout });
    };
    var token = await accessToken();
    var res = await withToken(token);
    if (res.statusCode === 401) {
      var stored = readTokens();
      // Another request may have refreshed while this one was in flight: use its token.
      var next = stored && stored.access_token !== token && !refreshing ? stored.access_token : await refresh();
      res = await withToken(next);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      res.data = parseBody(res.data);
      return res;
    }
    throw errorFromResponse(res);
  }

  /**
   * POST /v1/logout, then forget everything stored. Resolves {revoked}: whether the server
   * confirmed it; the local sign-out happens either way.
   */
  async function logout(opts) {
    var revoked = false;
    if (readTokens()) {
      try {
        await request({
          url: '/v1/logout',
          method: 'POST',
          data: opts && opts.allDevices ? { all_devices: true } : {},
          header: { 'content-type': 'application/json' },
        });
        revoked = true;
      } catch (err) {
        // Signed out locally all the same; an unreachable server must not keep the user in.
      }
    }
    for (var i = 0; i < KEYS.length; i++) store.remove(KEYS[i]);
    return { revoked: revoked };
  }

  function isLoggedIn() {
    var tokens = readTokens();
    return !!tokens && !(typeof tokens.refresh_expires_at === 'number' && tokens.refresh_expires_at <= now());
  }

  function getUser() {
    return isLoggedIn() ? store.read('user') : null;
  }

  return {
    login: login,
    loginWithPhone: loginWithPhone,
    register: register,
    request: request,
    logout: logout,
    isLoggedIn: isLoggedIn,
    getUser: getUser,
    getPendingRegistration: getPendingRegistration,
  };
}

module.exports = { createWxLogin: createWxLogin, WxLoginError: WxLoginError };
