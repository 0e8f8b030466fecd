// One SDK instance for the whole mini program; pages reach it through getApp().wxlogin.
const { createWxLogin } = require('./lib/wxlogin.js');
const config = require('./config.js');

App({
  wxlogin: createWxLogin({ baseUrl: config.baseUrl }),
});
