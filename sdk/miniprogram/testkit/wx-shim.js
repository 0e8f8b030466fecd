// A `wx` object for Node that behaves like the mini program runtime where the SDK and the
// example pages touch it: wx.login asks the simulator for a real code of the current simulated
// user, wx.request does real HTTP and answers as WeChat does, storage lives in memory, and the
// UI calls (navigation, toasts, modals) are recorded.
'use strict';

const { simPost, DEV_APPID } = require('./server');

function toQuery(data) {
  return Object.keys(data)
    .filter((k) => data[k] !== undefined)
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(data[k])}`)
    .join('&');
}

function later(fn, arg) {
  if (typeof fn === 'function') setImmediate(() => fn(arg));
}

/**
 * @param {{simUrl: string, user: string, appid?: string}} opts
 * The returned object carries, besides the wx API:
 *   user       the simulated WeChat user whose device this is (change it to switch)
 *   requests   every wx.request as {method, url, path, body}
 *   count(p)   how many requests went to path p
 *   offline    set true to make every wx.request fail like a lost network
 *   ui         recorded navigation / toast / modal calls
 */
function createWx(opts) {
  const storage = new Map();
  const wx = {
    user: opts.user,
    appid: opts.appid || DEV_APPID,
    requests: [],
    offline: false,
    ui: [],
    storage,

    count(path) {
      return wx.requests.filter((r) => r.path === path).length;
    },

    login({ success, fail, complete } = {}) {
      simPost(opts.simUrl, 'login_codes', { appid: wx.appid, user: wx.user }).then(
        ({ code }) => {
          const res = { errMsg: 'login:ok', code };
          later(success, res);
          later(complete, res);
        },
        (err) => {
          const res = { errMsg: `login:fail ${err.message}` };
          later(fail, res);
          later(complete, res);
        }
      );
    },

    request({ url, method = 'GET', data, header = {}, timeout = 60000, dataType = 'json', success, fail, complete }) {
      method = method.toUpperCase();
      const headers = { 'content-type': 'application/json', ...header };
      let body;
      if (data !== undefined && data !== null) {
        if (method === 'GET') {
          if (typeof data === 'object') {
            const q = toQuery(data);
            if (q) url += (url.includes('?') ? '&' : '?') + q;
          }
        } else {
          body = typeof data === 'string' ? data : JSON.stringify(data);
        }
      }
      const parsed = new URL(url);
      wx.requests.push({ method, url, path: parsed.pathname, body: body === undefined ? undefined : safeJson(body) });
      if (wx.offline) {
        const res = { errMsg: 'request:fail offline' };
        later(fail, res);
        later(complete, res);
        return;
      }
      fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeout) })
        .then(async (r) => {
          const text = await r.text();
          let out = text;
          if (dataType === 'json') out = safeJson(text);
          const res = { errMsg: 'request:ok', statusCode: r.status, data: out, header: Object.fromEntries(r.headers) };
          later(success, res);
          later(complete, res);
        })
        .catch((err) => {
          const res = { errMsg: `request:fail ${err.message}` };
          later(fail, res);
          later(complete, res);
        });
    },

    // Storage: values go through structuredClone, as WeChat serialises what it stores.
    setStorageSync(key, value) {
      storage.set(key, structuredClone(value));
    },
    getStorageSync(key) {
      return storage.has(key) ? structuredClone(storage.get(key)) : '';
    },
    removeStorageSync(key) {
      storage.delete(key);
    },

    // UI: recorded, each resolving its callbacks.
    navigateTo(o) {
      wx.ui.push({ api: 'navigateTo', url: o.url });
      later(o.success, { errMsg: 'navigateTo:ok' });
    },
    redirectTo(o) {
      wx.ui.push({ api: 'redirectTo', url: o.url });
      later(o.success, { errMsg: 'redirectTo:ok' });
    },
    reLaunch(o) {
      wx.ui.push({ api: 'reLaunch', url: o.url });
      later(o.success, { errMsg: 'reLaunch:ok' });
    },
    showToast(o) {
      wx.ui.push({ api: 'showToast', title: o.title });
    },
    showModal(o) {
      wx.ui.push({ api: 'showModal', title: o.title, content: o.content });
      later(o.success, { confirm: true, cancel: false });
    },
    showLoading(o) {
      wx.ui.push({ api: 'showLoading', title: o.title });
    },
    hideLoading() {
      wx.ui.push({ api: 'hideLoading' });
    },
  };
  return wx;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The getPhoneNumber event of a base library >= 2.21.2 (it carries a phone code). */
async function phoneEvent(simUrl, user, phone, appid = DEV_APPID) {
  const { code } = await simPost(simUrl, 'phone_codes', { appid, user, phone });
  return { type: 'getphonenumber', detail: { errMsg: 'getPhoneNumber:ok', code } };
}

/** The getPhoneNumber event of an older base library: encryptedData + iv only. */
async function legacyPhoneEvent(simUrl, user, phone, appid = DEV_APPID) {
  const { encrypted_data: encryptedData, iv } = await simPost(simUrl, 'encrypted_phone', { appid, user, phone });
  return { type: 'getphonenumber', detail: { errMsg: 'getPhoneNumber:ok', encryptedData, iv } };
}

/** The event when the user refuses. */
function deniedEvent() {
  return { type: 'getphonenumber', detail: { errMsg: 'getPhoneNumber:fail user deny' } };
}

module.exports = { createWx, phoneEvent, legacyPhoneEvent, deniedEvent };
