// The example mini program (examples/miniprogram) run as written: its App and Page objects,
// driven by the events WeChat would send, against a real `wxlogin serve --dev`. Plus the
// static checks: every page complete, every WXML handler a Page method, the SDK's public
// functions the only way the pages reach the server or the storage.
'use strict';

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { createWxLogin } = require('..');
const { startServer } = require('../testkit/server');
const { createWx, phoneEvent, deniedEvent } = require('../testkit/wx-shim');
const { loadExample, boundHandlers, EXAMPLE_ROOT } = require('../testkit/pages');

const appJson = JSON.parse(fs.readFileSync(path.join(EXAMPLE_ROOT, 'app.json'), 'utf8'));
const pageSources = appJson.pages.map((route) => ({
  route,
  source: fs.readFileSync(path.join(EXAMPLE_ROOT, `${route}.js`), 'utf8'),
}));

describe('the example, statically', () => {
  test('every page in app.json has its .js, .wxml, .wxss and .json', () => {
    assert.deepEqual(appJson.pages, ['pages/login/login', 'pages/register/register', 'pages/home/home']);
    for (const route of appJson.pages) {
      for (const ext of ['js', 'wxml', 'wxss', 'json']) {
        assert.ok(fs.existsSync(path.join(EXAMPLE_ROOT, `${route}.${ext}`)), `${route}.${ext}`);
      }
    }
  });

  test('every handler a WXML file binds is a method of its Page', () => {
    const { open } = loadExample({ wx: createWx({ simUrl: 'http://127.0.0.1:1', user: 'static' }), baseUrl: 'http://127.0.0.1:1' });
    for (const route of appJson.pages) {
      const { page } = open(`/${route}`);
      const handlers = boundHandlers(route);
      assert.ok(handlers.length > 0, `${route} binds something`);
      for (const name of handlers) assert.equal(typeof page[name], 'function', `${route}: ${name}`);
      assert.equal(page.methods, undefined, `${route}: a Page has no "methods"; that is a Component's`);
    }
  });

  test('the buttons WeChat needs are there: getPhoneNumber, chooseAvatar, a nickname input', () => {
    const wxml = (route) => fs.readFileSync(path.join(EXAMPLE_ROOT, `${route}.wxml`), 'utf8');
    assert.match(wxml('pages/login/login'), /open-type="getPhoneNumber"\s[^>]*bindgetphonenumber="onGetPhoneNumber"/);
    assert.match(wxml('pages/register/register'), /open-type="chooseAvatar"\s[^>]*bind:chooseavatar="onChooseAvatar"/);
    assert.match(wxml('pages/register/register'), /<input[^>]*type="nickname"[^>]*name="nickname"/);
  });

  test('the pages reach the server and the storage only through the SDK’s public functions', () => {
    const publicApi = Object.keys(createWxLogin({ baseUrl: 'http://x', wx: {} }));
    for (const { route, source } of pageSources) {
      const used = [...source.matchAll(/wxlogin\.(\w+)/g)].map((m) => m[1]);
      assert.ok(used.length > 0, `${route} uses the SDK`);
      for (const name of used) assert.ok(publicApi.includes(name), `${route}: wxlogin.${name} is not public`);
      assert.doesNotMatch(source, /\bwx\.(login|request|uploadFile|\w+Storage(Sync)?)\s*\(/, `${route} goes around the SDK`);
      assert.doesNotMatch(source, /require\(/, `${route} requires no file: the SDK comes from getApp()`);
    }
    const appSource = fs.readFileSync(path.join(EXAMPLE_ROOT, 'app.js'), 'utf8');
    assert.match(appSource, /require\('\.\/lib\/wxlogin\.js'\)/);
  });
});

describe('the example against wxlogin serve --dev', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    if (server) await server.stop();
  });

  test('new user: login page → phone button → register page → home → logout', async () => {
    const wx = createWx({ simUrl: server.simUrl, user: 'mia' });
    const mp = loadExample({ wx, baseUrl: server.baseUrl });

    // Arrival: wx.login finds no account, so the phone button shows.
    const login = await mp.visit('/pages/login/login');
    assert.equal(login.data.state, 'phone');
    assert.equal(mp.lastNavigation(), null);

    // Tap: a new phone → the registration page.
    await login.onGetPhoneNumber(await phoneEvent(server.simUrl, 'mia', '+8613900139001'));
    assert.deepEqual(mp.lastNavigation(), { api: 'navigateTo', url: '/pages/register/register' });

    // Registration: the phone is prefilled; an avatar is chosen (a temporary file, which the
    // example does not send), a nickname typed, the form submitted.
    const register = await mp.visit(mp.lastNavigation().url);
    assert.equal(register.data.phone, '+8613900139001');
    register.onChooseAvatar({ detail: { avatarUrl: 'http://tmp/avatar-mia.jpeg' } });
    assert.equal(register.data.avatarUrl, 'http://tmp/avatar-mia.jpeg');
    await register.onSubmit({ detail: { value: { nickname: '  Mia  ' } } });
    assert.equal(register.data.message, '');
    assert.deepEqual(mp.lastNavigation(), { api: 'reLaunch', url: '/pages/home/home' });
    const registerBody = wx.requests.find((r) => r.path === '/v1/register').body;
    assert.equal(registerBody.nickname, 'Mia');
    assert.equal(registerBody.avatar_url, undefined);

    // Home: GET /v1/me through the SDK.
    const home = await mp.visit(mp.lastNavigation().url);
    assert.equal(home.data.user.nickname, 'Mia');
    assert.equal(home.data.user.phone_masked, '+86 139****9001');

    // Logout: back to the login page, which waits for the user.
    await home.onLogout();
    assert.deepEqual(mp.lastNavigation(), { api: 'reLaunch', url: '/pages/login/login?loggedOut=1' });
    assert.equal([...wx.storage.keys()].length, 0);
    const loginsBefore = wx.count('/v1/login');
    const again = await mp.visit(mp.lastNavigation().url);
    assert.equal(again.data.state, 'phone');
    assert.equal(wx.count('/v1/login'), loginsBefore, 'no silent sign-in straight after a logout');

    // Home without a sign-in sends the user to the login page.
    const stray = await mp.visit('/pages/home/home');
    assert.equal(stray.data.user, null);
    assert.deepEqual(mp.lastNavigation(), { api: 'reLaunch', url: '/pages/login/login' });
  });

  test('returning user on a new device: the login page goes straight home', async () => {
    // Register "ned" first, on one device.
    const first = createWx({ simUrl: server.simUrl, user: 'ned' });
    const mp1 = loadExample({ wx: first, baseUrl: server.baseUrl });
    const login1 = await mp1.visit('/pages/login/login');
    await login1.onGetPhoneNumber(await phoneEvent(server.simUrl, 'ned', '+8613900139002'));
    await (await mp1.visit('/pages/register/register')).onSubmit({ detail: { value: { nickname: 'Ned' } } });

    // A new device of the same WeChat user.
    const wx = createWx({ simUrl: server.simUrl, user: 'ned' });
    const mp = loadExample({ wx, baseUrl: server.baseUrl });
    await mp.visit('/pages/login/login');
    assert.deepEqual(mp.lastNavigation(), { api: 'reLaunch', url: '/pages/home/home' });
    const home = await mp.visit('/pages/home/home');
    assert.equal(home.data.user.nickname, 'Ned');
    assert.equal(wx.count('/v1/phone'), 0);
  });

  test('a refused phone permission shows a message and sends nothing', async () => {
    const wx = createWx({ simUrl: server.simUrl, user: 'ola' });
    const mp = loadExample({ wx, baseUrl: server.baseUrl });
    const login = await mp.visit('/pages/login/login');
    const sent = wx.requests.length;
    await login.onGetPhoneNumber(deniedEvent());
    assert.equal(login.data.state, 'phone');
    assert.match(login.data.message, /phone number is needed/);
    assert.equal(wx.requests.length, sent);
  });

  test('the register page without a pending ticket goes back to the login page', async () => {
    const wx = createWx({ simUrl: server.simUrl, user: 'pia' });
    const mp = loadExample({ wx, baseUrl: server.baseUrl });
    await mp.visit('/pages/register/register');
    assert.deepEqual(mp.lastNavigation(), { api: 'redirectTo', url: '/pages/login/login?loggedOut=1' });
  });
});
