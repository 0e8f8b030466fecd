// `Taro` for Node, on the same machinery as testkit/wx-shim.js, strictly promise based: every
// asynchronous API returns a promise that resolves with the success result and rejects with the
// failure result, and ignores success/fail callbacks altogether (real Taro calls them too; the
// SDK must not depend on it). Taro has no getAppBaseInfo here, only getSystemInfoSync, so the
// SDK's fallback for the language is what runs.
'use strict';

const { createWx } = require('./wx-shim');
const { dress } = require('./uni-shim');

const ASYNC = ['login', 'request', 'uploadFile', 'navigateTo', 'redirectTo', 'reLaunch', 'showModal', 'setClipboardData'];

/** @param {{simUrl: string, user: string, appid?: string, language?: string}} opts */
function createTaro(opts) {
  const base = createWx(opts);
  const Taro = dress(base, {});
  for (const name of ASYNC) {
    Taro[name] = (options = {}) => {
      const { success, fail, complete, ...rest } = options; // eslint-disable-line no-unused-vars
      return new Promise((resolve, reject) => base[name]({ ...rest, success: resolve, fail: reject }));
    };
  }
  Taro.getSystemInfoSync = () => base.getSystemInfoSync();
  return Taro;
}

module.exports = { createTaro };
