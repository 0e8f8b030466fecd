// A `wx` object for Node that behaves like the mini program runtime where the SDK and the
// example pages touch it: wx.login asks the simulator for a real code of the current simulated
// user, wx.request and wx.uploadFile do real HTTP and answer as WeChat does, storage lives in
// memory, the language is WeChat's ("zh_CN"), and the UI calls (navigation, toasts, modals) are
// recorded. testkit/uni-shim.js and testkit/taro-shim.js dress the same object in uni-app's and
// Taro's calling conventions.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { simPost, DEV_APPID } = require('./server');

const MIME = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif' };
let tempCounter = 0;

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
 * @param {{simUrl: string, user: string, appid?: string, language?: string}} opts
 * The returned object carries, besides the wx API:
 *   user         the simulated WeChat user whose device this is (change it to switch)
 *   requests     every wx.request and wx.uploadFile as {method, url, path, header, body}
 *   count(p)     how many requests went to path p
 *   offline      set true to make every wx.request and wx.uploadFile fail like a lost network
 *   ui           recorded navigation / toast / modal / clipboard calls
 *   language     what getAppBaseInfo() and getSystemInfoSync() say (default "zh_CN")
 *   modalReply   how the next wx.showModal is answered: 'confirm' (default) or 'cancel'
 *   addTempFile(bytes, ext)  a temporary file, as chooseAvatar yields one; returns its path
 */
function createWx(opts) {
  const storage = new Map();
  const tempFiles = new Map();
  const wx = {
    user: opts.user,
    appid: opts.appid || DEV_APPID,
    requests: [],
    offline: false,
    ui: [],
    storage,
    tempFiles,
    language: opts.language || 'zh_CN',
    modalReply: 'confirm',

    count(path) {
      return wx.requests.filter((r) => r.path === path).length;
    },

    addTempFile(bytes, ext = 'png') {
      const file = `http://tmp/${++tempCounter}-${Date.now().toString(36)}.${ext}`;
      tempFiles.set(file, Buffer.from(bytes));
      return file;
    },

    getAppBaseInfo() {
      return { SDKVersion: '3.7.0', language: wx.language, enableDebug: false, theme: 'light' };
    },

    getSystemInfoSync() {
      return { SDKVersion: '3.7.0', language: wx.language, platform: 'devtools', system: 'Node' };
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
      wx.requests.push({ method, url, path: parsed.pathname, header, body: body === undefined ? undefined : safeJson(body) });
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

    // Multipart POST of a temporary file (or a file on disk), as WeChat sends it; `data` of the
    // answer is the body as a string, never parsed.
    uploadFile({ url, filePath, name, header = {}, formData = {}, timeout = 60000, success, fail, complete }) {
      const parsed = new URL(url);
      wx.requests.push({ method: 'POST', url, path: parsed.pathname, header, body: { ...formData, [name]: { filePath } } });
      const failWith = (errMsg) => {
        const res = { errMsg };
        later(fail, res);
        later(complete, res);
      };
      let bytes = tempFiles.get(filePath);
      if (!bytes && fs.existsSync(filePath)) bytes = fs.readFileSync(filePath);
      if (!bytes) return failWith(`uploadFile:fail file not found: ${filePath}`);
      if (wx.offline) return failWith('uploadFile:fail offline');
      const form = new FormData();
      for (const [k, v] of Object.entries(formData)) form.append(k, String(v));
      const ext = path.extname(filePath).slice(1).toLowerCase();
      form.append(name, new Blob([bytes], { type: MIME[ext] || 'application/octet-stream' }), path.basename(filePath));
      fetch(url, { method: 'POST', headers: header, body: form, signal: AbortSignal.timeout(timeout) })
        .then(async (r) => {
          const res = { errMsg: 'uploadFile:ok', statusCode: r.status, data: await r.text(), header: Object.fromEntries(r.headers) };
          later(success, res);
          later(complete, res);
        })
        .catch((err) => failWith(`uploadFile:fail ${err.message}`));
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
      const confirm = wx.modalReply !== 'cancel';
      wx.modalReply = 'confirm';
      later(o.success, { errMsg: 'showModal:ok', confirm, cancel: !confirm });
    },
    setClipboardData(o) {
      wx.ui.push({ api: 'setClipboardData', data: o.data });
      later(o.success, { errMsg: 'setClipboardData:ok' });
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
