// `uni` of uni-app (Vue 3) for Node, on the same machinery as testkit/wx-shim.js: an
// asynchronous API called with success/fail/complete answers through them (and returns the task,
// not a promise); called without them it returns a promise that resolves with the success result
// and rejects with the failure result. The synchronous APIs (storage, getAppBaseInfo) are as in
// wx, and getAppBaseInfo carries uni-app's `appLanguage` ("zh-Hans") beside the host's language.
'use strict';

const { createWx } = require('./wx-shim');

const ASYNC = ['login', 'request', 'uploadFile', 'navigateTo', 'redirectTo', 'reLaunch', 'showModal', 'setClipboardData'];
const HELPERS = ['requests', 'ui', 'storage', 'tempFiles', 'count', 'addTempFile', 'getStorageSync', 'setStorageSync', 'removeStorageSync', 'showToast', 'showLoading', 'hideLoading'];
const SETTABLE = ['user', 'offline', 'language', 'modalReply'];

function hasCallback(o) {
  return !!o && ['success', 'fail', 'complete'].some((k) => typeof o[k] === 'function');
}

/** Copies the test helpers and the synchronous APIs of `base`, and proxies its settable state. */
function dress(base, target) {
  for (const key of HELPERS) target[key] = typeof base[key] === 'function' ? base[key].bind(base) : base[key];
  for (const key of SETTABLE) {
    Object.defineProperty(target, key, { get: () => base[key], set: (v) => (base[key] = v), enumerable: true });
  }
  target.base = base;
  return target;
}

/** @param {{simUrl: string, user: string, appid?: string, language?: string, appLanguage?: string}} opts */
function createUni(opts) {
  const base = createWx(opts);
  const uni = dress(base, {});
  for (const name of ASYNC) {
    uni[name] = (options = {}) => {
      if (hasCallback(options)) return base[name](options);
      return new Promise((resolve, reject) => base[name]({ ...options, success: resolve, fail: reject }));
    };
  }
  const appLanguage = opts.appLanguage || 'zh-Hans';
  uni.getAppBaseInfo = () => ({ ...base.getAppBaseInfo(), appLanguage, uniPlatform: 'mp-weixin' });
  uni.getSystemInfoSync = () => ({ ...base.getSystemInfoSync(), appLanguage, uniPlatform: 'mp-weixin' });
  return uni;
}

module.exports = { createUni, dress };
