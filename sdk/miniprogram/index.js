/*
 * @wxlogin/miniprogram: the WeChat Mini Program client of a wxlogin server.
 *
 * Runs in the mini program runtime: no dependencies, no Node APIs, ES2017 syntax only (no `?.`,
 * `??`, object spread or class fields), CommonJS because mini programs `require` it. Works with
 * the native `wx`, uni-app's `uni` and Taro's `Taro` (options.platform).
 *
 *   const { createWxLogin } = require('./lib/wxlogin.js')
 *   const wxlogin = createWxLogin({ baseUrl: 'https://auth.example.com' })
 *   await wxlogin.login()                 // wx.login -> POST /v1/login
 *   await wxlogin.loginWithPhone(e)       // getPhoneNumber button -> POST /v1/phone
 *   await wxlogin.register({ nickname })  // POST /v1/register with the ticket
 *   await wxlogin.request({ url: '/v1/me' })
 *   await wxlogin.updateProfile({ nickname })  // PATCH /v1/me
 *   await wxlogin.logout()
 *
 * Layout: WxLoginError; texts (what a user may be shown, Chinese and English); storage (what
 * is kept, under which keys); platform (wx / uni / Taro reduced to promises); transport (error
 * mapping); createWxLogin (the flow).
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
/* Texts                                                                                        */

// What a user may be shown for each error code: `messageFor(err)`, and the message of the
// SDK's own `session_key_stale` rejection. Simplified Chinese first, English with
// `locale: 'en'`. Every code has both (test/sdk.test.js checks it against docs/api.md and
// index.d.ts); the admin API's codes are left out, a mini program never calls it.
var RETRY_ZH = '请稍后再试';
var TAP_AGAIN_ZH = '请重新点击按钮';
var SIGN_IN_AGAIN_ZH = '登录已失效，请重新登录';
var SIGN_IN_AGAIN_EN = 'Please sign in again.';
var MESSAGES = {
  zh: {
    network_error: '网络不太顺畅，' + RETRY_ZH,
    permission_denied: '需要授权手机号才能继续，请点击按钮并允许',
    http_error: '服务暂时出了点问题，' + RETRY_ZH,
    invalid_request: '提交的内容有误，请检查后再试',
    unknown_app: '小程序配置有误，请联系客服',
    login_code_invalid: '登录失败，请重试',
    login_code_used: '登录失败，请重试',
    login_blocked: '该微信账号暂时无法登录',
    session_invalid: '登录状态已过期，请重试',
    phone_code_invalid: '手机号验证失败，' + TAP_AGAIN_ZH,
    session_key_stale: '微信登录状态已更新，请再点一次按钮',
    payload_malformed: '手机号验证失败，' + TAP_AGAIN_ZH,
    appid_mismatch: '手机号验证失败，' + TAP_AGAIN_ZH,
    watermark_expired: '授权已过期，' + TAP_AGAIN_ZH,
    ticket_invalid: '注册已过期，请重新验证手机号',
    registration_closed: '暂不开放注册',
    already_registered: '该手机号已注册，请重新登录',
    unauthenticated: SIGN_IN_AGAIN_ZH,
    refresh_token_invalid: SIGN_IN_AGAIN_ZH,
    refresh_token_reused: SIGN_IN_AGAIN_ZH,
    user_disabled: '该账号已被停用',
    phone_bound_elsewhere: '该手机号的账号已绑定其他微信号，无法用这个微信号登录',
    phone_taken: '该手机号已被其他账号使用',
    image_invalid: '图片无法使用，请选择 JPG、PNG 或 WebP 图片',
    not_found: '服务暂时出了点问题，' + RETRY_ZH,
    method_not_allowed: '服务暂时出了点问题，' + RETRY_ZH,
    payload_too_large: '内容太大了（图片请小于 1 MB）',
    rate_limited: '操作太频繁，' + RETRY_ZH,
    wechat_error: '微信服务出错，' + RETRY_ZH,
    wechat_unavailable: '微信服务暂时不可用，' + RETRY_ZH,
    unavailable: '服务暂时不可用，' + RETRY_ZH,
    internal: '服务器出错了，' + RETRY_ZH,
  },
  en: {
    network_error: 'The network is having trouble. Please try again.',
    permission_denied: 'The phone number is needed to continue. Tap the button and allow it.',
    http_error: 'Something went wrong. Please try again later.',
    invalid_request: 'Please check what you entered and try again.',
    unknown_app: 'This mini program is not set up correctly. Please contact support.',
    login_code_invalid: 'Sign-in failed. Please try again.',
    login_code_used: 'Sign-in failed. Please try again.',
    login_blocked: 'This WeChat account cannot sign in right now.',
    session_invalid: 'Your sign-in expired. Please try again.',
    phone_code_invalid: 'The phone number could not be verified. Please tap the button again.',
    session_key_stale: 'Your WeChat login was renewed. Please tap the button again.',
    payload_malformed: 'The phone number could not be verified. Please tap the button again.',
    appid_mismatch: 'The phone number could not be verified. Please tap the button again.',
    watermark_expired: 'The permission has expired. Please tap the button again.',
    ticket_invalid: 'Your registration has expired. Please verify your phone number again.',
    registration_closed: 'Registration is closed.',
    already_registered: 'This phone number is already registered. Please sign in again.',
    unauthenticated: SIGN_IN_AGAIN_EN,
    refresh_token_invalid: SIGN_IN_AGAIN_EN,
    refresh_token_reused: SIGN_IN_AGAIN_EN,
    user_disabled: 'This account has been disabled.',
    phone_bound_elsewhere: "This phone number's account is linked to another WeChat account.",
    phone_taken: 'This phone number belongs to another account.',
    image_invalid: 'This image cannot be used. Please choose a JPEG, PNG or WebP image.',
    not_found: 'Something went wrong. Please try again later.',
    method_not_allowed: 'Something went wrong. Please try again later.',
    payload_too_large: 'That is too large (images: at most 1 MB).',
    rate_limited: 'Too many attempts. Please wait a moment.',
    wechat_error: 'WeChat returned an error. Please try again later.',
    wechat_unavailable: 'WeChat is not answering right now. Please try again later.',
    unavailable: 'The service is not available right now. Please try again later.',
    internal: 'Something went wrong on our side. Please try again later.',
  },
};
// For a code the SDK does not know (a newer server, another API).
var FALLBACK = {
  zh: '操作失败，' + RETRY_ZH,
  en: 'Something went wrong. Please try again.',
};

function freezeTexts() {
  Object.keys(MESSAGES).forEach(function (locale) {
    Object.freeze(MESSAGES[locale]);
  });
  Object.freeze(MESSAGES);
}
freezeTexts();

/** 'zh' or 'en': the option when given, else English for an English platform, else Chinese. */
function resolveLocale(option, platformLanguage) {
  if (option === 'zh' || option === 'en') return option;
  return /^en\b/i.test(platformLanguage || '') ? 'en' : 'zh';
}

function textFor(locale, code) {
  var texts = MESSAGES[locale] || MESSAGES.zh;
  return Object.prototype.hasOwnProperty.call(texts, code) ? texts[code] : FALLBACK[locale] || FALLBACK.zh;
}

/* ------------------------------------------------------------------------------------------ */
/* Storage                                                                                      */

// Keys under the prefix:
//   session  {value, expires_at}                      the pre-sign-in session of POST /v1/login
//   tokens   {access_token, expires_at, refresh_token, refresh_expires_at}
//   user     the user object of the last sign-in
//   ticket   {ticket, phone, expires_at}               a pending registration
var KEYS = ['session', 'tokens', 'user', 'ticket'];

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
/* Platform                                                                                     */

// The SDK talks to the runtime through one object: the global `wx` of a native mini program,
// uni-app's `uni` or Taro's `Taro` (options.platform). They share the mini program API's names
// and parameters but not its calling convention: `wx` answers through success/fail callbacks,
// Taro returns promises (and may call the callbacks too), uni-app takes callbacks and, called
// without them, returns a promise (Vue 3) or a promise of [err, res] (Vue 2). `invoke` passes
// callbacks AND follows a returned promise; whichever answers first settles the call.

function invoke(api, name, params) {
  return new Promise(function (resolve, reject) {
    var settled = false;
    var ok = function (res) {
      if (settled) return;
      settled = true;
      resolve(res);
    };
    var fail = function (res) {
      if (settled) return;
      settled = true;
      reject(res);
    };
    var returned;
    try {
      returned = api[name](Object.assign({}, params, { success: ok, fail: fail }));
    } catch (e) {
      fail({ errMsg: name + ':fail ' + (e && e.message) });
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then(function (value) {
        // uni-app's Vue 2 promises resolve [err, res].
        if (Array.isArray(value) && value.length === 2 && (value[0] || value[1])) {
          if (value[0]) fail(value[0]);
          else ok(value[1]);
        } else {
          ok(value);
        }
      }, fail);
    }
  });
}

/** The errMsg of a failed call, for error messages (never the parameters). */
function failureText(res, name) {
  if (res && typeof res.errMsg === 'string') return res.errMsg;
  if (res && typeof res.message === 'string') return name + ':fail ' + res.message;
  return name + ':fail';
}

// getAppBaseInfo first (getSystemInfoSync is deprecated in WeChat); `appLanguage` is uni-app's
// language of the app, `language` the host's (WeChat: "zh_CN", "en", "zh_TW").
function platformLanguage(api) {
  var readers = ['getAppBaseInfo', 'getSystemInfoSync'];
  for (var i = 0; i < readers.length; i++) {
    if (typeof api[readers[i]] !== 'function') continue;
    var info;
    try {
      info = api[readers[i]]();
    } catch (e) {
      continue;
    }
    var lang = info && (info.appLanguage || info.language);
    if (typeof lang === 'string' && lang !== '') return lang;
  }
  return null;
}

/**
 * The platform reduced to what the SDK uses, each asynchronous call a promise that resolves
 * with the success result and rejects with the failure result ({errMsg}).
 */
function makePlatform(api) {
  var language;
  return {
    request: function (params) {
      return invoke(api, 'request', params);
    },
    uploadFile: function (params) {
      return invoke(api, 'uploadFile', params);
    },
    login: function () {
      return invoke(api, 'login', {});
    },
    /** The platform's language as a language tag ("zh_CN" -> "zh-CN"), or null; read once. */
    language: function () {
      if (language === undefined) {
        var raw = platformLanguage(api);
        language = raw ? raw.replace(/_/g, '-') : null;
      }
      return language;
    },
    storage: {
      get: function (key) {
        return api.getStorageSync(key);
      },
      set: function (key, value) {
        api.setStorageSync(key, value);
      },
      remove: function (key) {
        api.removeStorageSync(key);
      },
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

/** A 401 about the access token: no wxlogin error code (another API) or `unauthenticated`. */
function tokenRefused(res) {
  if (res.statusCode !== 401) return false;
  var data = parseBody(res.data);
  var body = data && typeof data === 'object' ? data.error : null;
  var code = body && typeof body === 'object' ? body.code : undefined;
  return typeof code !== 'string' || code === 'unauthenticated';
}

function hasHeader(header, name) {
  return headerValue(header, name) !== undefined;
}

/* ------------------------------------------------------------------------------------------ */
/* createWxLogin                                                                               */

/**
 * @param {object} options
 * @param {string} options.baseUrl  the wxlogin server, e.g. 'https://auth.example.com'
 * @param {string} [options.appid]  sent with /v1/login; needed when the server has several apps
 * @param {object} [options.platform]  `wx`, uni-app's `uni` or Taro's `Taro`; default the global `wx`
 * @param {'zh'|'en'} [options.locale]  the language of messageFor(); default Chinese, English
 *   on an English platform. Also sent as Accept-Language when given.
 * @param {{get(key: string): any, set(key: string, value: any): void, remove(key: string): void}} [options.storage]
 *   synchronous key-value storage; default the platform's getStorageSync / setStorageSync / removeStorageSync
 * @param {string} [options.storagePrefix='wxlogin:']
 * @param {number} [options.timeout]  request / uploadFile timeout in ms
 * @param {object} [options.wx]  the former name of options.platform
 */
function createWxLogin(options) {
  if (!options || typeof options.baseUrl !== 'string' || options.baseUrl === '') {
    throw new TypeError('createWxLogin: options.baseUrl is required');
  }
  var api = options.platform || options.wx || (typeof wx !== 'undefined' ? wx : null); // eslint-disable-line no-undef
  if (!api) throw new TypeError('createWxLogin: no `wx` object (pass options.platform: wx, uni or Taro)');
  if (options.locale !== undefined && options.locale !== 'zh' && options.locale !== 'en') {
    throw new TypeError("createWxLogin: options.locale is 'zh' or 'en'");
  }
  var platform = makePlatform(api);
  var baseUrl = options.baseUrl.replace(/\/+$/, '');
  var appid = options.appid;
  var timeout = options.timeout;
  var prefix = typeof options.storagePrefix === 'string' ? options.storagePrefix : DEFAULT_PREFIX;
  var store = makeStore(options.storage || platform.storage, prefix);

  var loggingIn = null; // the login() in flight, shared by concurrent callers
  var refreshing = null; // the refresh in flight, shared by concurrent 401s

  function now() {
    return Date.now();
  }

  function urlFor(url) {
    return /^https?:\/\//i.test(url) ? url : baseUrl + (url.charAt(0) === '/' ? '' : '/') + url;
  }

  /* ---- language ---- */

  function locale() {
    return resolveLocale(options.locale, platform.language());
  }

  /** Accept-Language: the locale option when given, else the platform's language, else zh-CN. */
  function acceptLanguage() {
    if (options.locale) return options.locale === 'en' ? 'en' : 'zh-CN';
    return platform.language() || 'zh-CN';
  }

  /** A copy of `header` with Accept-Language, unless the caller set one. */
  function withLanguage(header) {
    var out = Object.assign({}, header || {});
    if (!hasHeader(out, 'accept-language')) out['Accept-Language'] = acceptLanguage();
    return out;
  }

  /** The text a user may be shown for an error (or a code), in the SDK's locale. */
  function messageFor(errOrCode) {
    var code = typeof errOrCode === 'string' ? errOrCode : errOrCode && errOrCode.code;
    return textFor(locale(), code);
  }

  /* ---- transport ---- */

  function networkError(res) {
    throw new WxLoginError('network_error', 'The server could not be reached (' + failureText(res, 'request') + ')');
  }

  /** The platform's request as a promise of its response ({statusCode, data, header}). */
  function send(opts) {
    var params = {
      url: urlFor(opts.url),
      method: opts.method || 'GET',
      header: withLanguage(opts.header),
      dataType: 'json',
    };
    if (opts.data !== undefined) params.data = opts.data;
    if (opts.timeout || timeout) params.timeout = opts.timeout || timeout;
    return platform.request(params).then(null, networkError);
  }

  /** A call to the wxlogin API without a token: the parsed body of a 2xx, else a rejection. */
  function call(method, path, body) {
    var header = { 'content-type': 'application/json' };
    return send({ url: path, method: method, data: body, header: header }).then(function (res) {
      if (res.statusCode >= 200 && res.statusCode < 300) return parseBody(res.data);
      throw errorFromResponse(res);
    });
  }

  function wxLoginCode() {
    return platform.login().then(
      function (res) {
        if (res && res.code) return res.code;
        throw new WxLoginError('network_error', 'wx.login failed (' + failureText(res, 'login') + ')');
      },
      function (res) {
        throw new WxLoginError('network_error', 'wx.login failed (' + failureText(res, 'login') + ')');
      }
    );
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
        data = await call('POST', '/v1/login', body);
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
   * The proof in a getPhoneNumber event: {code}, or {encrypted_data, iv} on base libraries
   * before 2.21.2. A refusal is permission_denied, and nothing is sent.
   */
  function phoneProof(event) {
    var detail = event && event.detail ? event.detail : {};
    var errMsg = typeof detail.errMsg === 'string' ? detail.errMsg : '';
    if (!/:ok$/.test(errMsg)) {
      throw new WxLoginError(
        'permission_denied',
        'The phone number was not shared' + (errMsg ? ' (' + errMsg + ')' : '')
      );
    }
    if (typeof detail.code === 'string' && detail.code !== '') return { code: detail.code };
    if (detail.encryptedData && detail.iv) return { encrypted_data: detail.encryptedData, iv: detail.iv };
    throw new WxLoginError('invalid_request', 'The getPhoneNumber event has no code and no encryptedData');
  }

  /** session_key_stale whose message asks the user to tap the button again (in the locale). */
  function tapAgain(err) {
    return new WxLoginError('session_key_stale', messageFor('session_key_stale'), {
      status: err.status,
      requestId: err.requestId,
    });
  }

  /**
   * Takes the event of <button open-type="getPhoneNumber" bindgetphonenumber="...">.
   * Sends e.detail.code, or e.detail.encryptedData + iv on base libraries before 2.21.2.
   */
  async function loginWithPhone(event) {
    var proof = phoneProof(event);

    var first;
    // Without a session, log in first; a user it signs in silently needs no phone step.
    if (!currentSession()) {
      first = await login();
      if (first.registered) return first;
    }
    var data;
    try {
      data = await call('POST', '/v1/phone', Object.assign({ session: currentSession() }, proof));
    } catch (err) {
      if (isError(err, ['session_invalid'])) {
        // The session ended server-side. It is checked before the code is used, so the same
        // code (or data, under the previous session_key's grace) works with a new session.
        store.remove('session');
        first = await login();
        if (first.registered) return first;
        data = await call('POST', '/v1/phone', Object.assign({ session: currentSession() }, proof));
      } else if (isError(err, ['session_key_stale'])) {
        // The encryptedData was made with a session_key the server no longer holds. Only a new
        // tap makes new data; log in now so that it is made with a key the server knows.
        var again = await login();
        if (again.registered) return { registered: true, user: again.user };
        throw tapAgain(err);
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
      data = await call('POST', '/v1/register', body);
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
      data = await call('POST', '/v1/token/refresh', { refresh_token: tokens.refresh_token });
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
   * `sendWith(token)` with the access token. A 401 about the token (no wxlogin error code, or
   * `unauthenticated`) refreshes the tokens once and sends once more; other answers come back
   * as they are.
   */
  async function authorized(sendWith) {
    var token = await accessToken();
    var res = await sendWith(token);
    if (tokenRefused(res)) {
      var stored = readTokens();
      // Another request may have refreshed while this one was in flight: use its token.
      var next = stored && stored.access_token !== token && !refreshing ? stored.access_token : await refresh();
      res = await sendWith(next);
    }
    return res;
  }

  /**
   * The platform's request with the bearer token. A 401 refreshes the tokens once and repeats
   * the request. Resolves with the response ({statusCode, data, header}) of a 2xx; rejects with
   * a WxLoginError otherwise (for a body without the wxlogin error shape: code 'http_error',
   * with the body in `err.data`).
   */
  async function request(opts) {
    if (!opts || typeof opts.url !== 'string') throw new TypeError('request: options.url is required');
    var res = await authorized(function (token) {
      var header = Object.assign({}, opts.header || {});
      header.Authorization = 'Bearer ' + token;
      return send({ url: opts.url, method: opts.method, data: opts.data, header: header, timeout: opts.timeout });
    });
    if (res.statusCode >= 200 && res.statusCode < 300) {
      res.data = parseBody(res.data);
      return res;
    }
    throw errorFromResponse(res);
  }

  /** A wxlogin API call with the bearer token: the parsed body of a 2xx. */
  function callSignedIn(method, path, body) {
    return request({ url: path, method: method, data: body, header: { 'content-type': 'application/json' } }).then(
      function (res) {
        return res.data;
      }
    );
  }

  /** The user as the server last showed it; getUser() answers with it. */
  function keepUser(user) {
    if (user && typeof user === 'object') store.write('user', user);
    return { user: user };
  }

  /* ---- the account ---- */

  /**
   * PATCH /v1/me. `nickname` (1-64 characters) and `avatarUrl` (an https URL, or this server's
   * from uploadAvatar; null removes the avatar) are changed when given, left alone when not.
   * Resolves {user} (the GET /v1/me shape) and keeps it for getUser().
   */
  async function updateProfile(changes) {
    var c = changes || {};
    var body = {};
    if (c.nickname !== undefined) body.nickname = c.nickname;
    if (c.avatarUrl !== undefined) body.avatar_url = c.avatarUrl;
    return keepUser((await callSignedIn('PATCH', '/v1/me', body)).user);
  }

  /**
   * POST /v1/avatar (multipart, field `file`) through the platform's uploadFile: the temporary
   * file of <button open-type="chooseAvatar"> (JPEG, PNG or WebP, at most 1 MiB). Signed in, it
   * sends the bearer token; otherwise the registration ticket (opts.registrationTicket, else the
   * pending one). Resolves {avatarUrl}, for register() or updateProfile(); it does not change
   * the profile by itself.
   */
  async function uploadAvatar(filePath, opts) {
    if (typeof filePath !== 'string' || filePath === '') {
      throw new TypeError('uploadAvatar: the temporary file path is required');
    }
    var o = opts || {};
    var ticket = typeof o.registrationTicket === 'string' && o.registrationTicket !== '' ? o.registrationTicket : null;
    var bearer = !ticket && !!readTokens();
    if (!ticket && !bearer) {
      var pending = getPendingRegistration();
      if (!pending) throw unauthenticated('Not signed in, and no registration is pending', { status: 0 });
      ticket = pending.ticket;
    }
    var upload = function (token) {
      var header = withLanguage({});
      var params = { url: urlFor('/v1/avatar'), filePath: filePath, name: 'file', header: header };
      if (token) header.Authorization = 'Bearer ' + token;
      else params.formData = { registration_ticket: ticket };
      if (timeout) params.timeout = timeout;
      return platform.uploadFile(params).then(null, networkError);
    };
    var res = bearer ? await authorized(upload) : await upload(null);
    if (res.statusCode >= 200 && res.statusCode < 300) {
      var data = parseBody(res.data);
      return { avatarUrl: data && typeof data === 'object' ? data.avatar_url : undefined };
    }
    throw errorFromResponse(res);
  }

  /**
   * Changes the signed-in user's phone: takes the getPhoneNumber button's event (like
   * loginWithPhone), logs in silently for a session of this user, then POST /v1/me/phone.
   * Resolves {user}. `phone_taken`: another account holds the number; `permission_denied`: the
   * user refused (nothing sent); `session_key_stale`: tap again (the message says so).
   */
  async function changePhone(event) {
    var proof = phoneProof(event);
    if (!readTokens()) throw unauthenticated('Not signed in', { status: 0 });
    // A fresh session of this WeChat account (and, for encryptedData, a session_key the
    // server holds: the one of the tap is the previous key now, within its grace).
    var who = await login();
    if (!who.registered) {
      // This WeChat account belongs to no account any more; login() has signed out.
      throw unauthenticated('This WeChat account is no longer signed in', { status: 0 });
    }
    var data;
    try {
      data = await callSignedIn('POST', '/v1/me/phone', Object.assign({ session: currentSession() }, proof));
    } catch (err) {
      if (isError(err, ['session_key_stale'])) throw tapAgain(err);
      throw err;
    }
    return keepUser(data.user);
  }

  /**
   * DELETE /v1/me: the account deletion (注销). Every sign-in of the user ends on the server;
   * then everything stored here is cleared. Resolves with nothing; on a failure nothing is
   * cleared.
   */
  async function deleteAccount() {
    await callSignedIn('DELETE', '/v1/me');
    clearAll();
  }

  /** GET /v1/me/export: everything the server holds about the user. */
  function exportAccount() {
    return callSignedIn('GET', '/v1/me/export');
  }

  function clearAll() {
    for (var i = 0; i < KEYS.length; i++) store.remove(KEYS[i]);
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
    clearAll();
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
    updateProfile: updateProfile,
    uploadAvatar: uploadAvatar,
    changePhone: changePhone,
    deleteAccount: deleteAccount,
    exportAccount: exportAccount,
    messageFor: messageFor,
  };
}

module.exports = { createWxLogin: createWxLogin, WxLoginError: WxLoginError, messages: MESSAGES };
