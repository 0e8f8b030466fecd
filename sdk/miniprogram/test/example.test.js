// The example mini program (examples/miniprogram) run as written: its App and Page objects,
// driven by the events WeChat would send, against a real `wxlogin serve --dev`. Plus the
// static checks: every page complete, every WXML handler a Page method, the SDK's public
// functions the only way the pages reach the server or the storage.
'use strict';

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { createWxLogin, messages } = require('..');
const { startServer, requireRoute } = require('../testkit/server');
const { createWx, phoneEvent, legacyPhoneEvent, deniedEvent } = require('../testkit/wx-shim');
const { loadExample, boundHandlers, EXAMPLE_ROOT } = require('../testkit/pages');
const images = require('../testkit/images');

const appJson = JSON.parse(fs.readFileSync(path.join(EXAMPLE_ROOT, 'app.json'), 'utf8'));
const pageSources = appJson.pages.map((route) => ({
  route,
  source: fs.readFileSync(path.join(EXAMPLE_ROOT, `${route}.js`), 'utf8'),
}));

describe('the example, statically', () => {
  test('every page in app.json has its .js, .wxml, .wxss and .json', () => {
    assert.deepEqual(appJson.pages, ['pages/login/login', 'pages/register/register', 'pages/home/home', 'pages/profile/profile']);
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
    const profile = wxml('pages/profile/profile');
    assert.match(profile, /open-type="chooseAvatar"\s[^>]*bind:chooseavatar="onChooseAvatar"/);
    assert.match(profile, /<form bindsubmit="onSaveNickname">[\s\S]*<input[^>]*type="nickname"[^>]*name="nickname"[\s\S]*form-type="submit"[\s\S]*<\/form>/);
    assert.match(profile, /open-type="getPhoneNumber"\s[^>]*bindgetphonenumber="onChangePhone"/);
    assert.match(profile, /bindtap="onDeleteAccount"/);
  });

  test('the pages speak Chinese: no English left in the WXML text', () => {
    for (const route of appJson.pages) {
      const text = fs
        .readFileSync(path.join(EXAMPLE_ROOT, `${route}.wxml`), 'utf8')
        .replace(/<[^>]*>/g, ' ')
        .replace(/{{[^}]*}}/g, ' ');
      assert.doesNotMatch(text, /[A-Za-z]{3,}/, `${route}.wxml`);
    }
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

    // Registration: the phone is prefilled; a nickname typed (no avatar: that is the next
    // test), the form submitted.
    const register = await mp.visit(mp.lastNavigation().url);
    assert.equal(register.data.phone, '+8613900139001');
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
    assert.equal(login.data.message, messages.zh.permission_denied, 'the SDK’s text, in Chinese');
    assert.equal(wx.requests.length, sent);
  });

  test('the register page without a pending ticket goes back to the login page', async () => {
    const wx = createWx({ simUrl: server.simUrl, user: 'pia' });
    const mp = loadExample({ wx, baseUrl: server.baseUrl });
    await mp.visit('/pages/register/register');
    assert.deepEqual(mp.lastNavigation(), { api: 'redirectTo', url: '/pages/login/login?loggedOut=1' });
  });

  /** A registered, signed-in user made through the pages; returns {wx, mp}. */
  async function signUp(user, phone, nickname) {
    const wx = createWx({ simUrl: server.simUrl, user });
    const mp = loadExample({ wx, baseUrl: server.baseUrl });
    const login = await mp.visit('/pages/login/login');
    await login.onGetPhoneNumber(await phoneEvent(server.simUrl, user, phone));
    await (await mp.visit('/pages/register/register')).onSubmit({ detail: { value: { nickname } } });
    assert.deepEqual(mp.lastNavigation(), { api: 'reLaunch', url: '/pages/home/home' });
    return { wx, mp };
  }

  test('registration with an avatar: chooseAvatar uploads with the ticket, register sends its URL', async () => {
    await requireRoute(server, 'post', '/v1/avatar');
    const wx = createWx({ simUrl: server.simUrl, user: 'quin' });
    const mp = loadExample({ wx, baseUrl: server.baseUrl });
    const login = await mp.visit('/pages/login/login');
    await login.onGetPhoneNumber(await phoneEvent(server.simUrl, 'quin', '+8613900139011'));
    const register = await mp.visit('/pages/register/register');

    const temp = wx.addTempFile(images.png(), 'png');
    await register.onChooseAvatar({ detail: { avatarUrl: temp } });
    assert.equal(register.data.message, '');
    assert.equal(register.data.avatarPreview, temp);
    assert.ok(register.data.avatarUrl.startsWith(`${server.baseUrl}/avatars/`), register.data.avatarUrl);
    const upload = wx.requests.find((r) => r.path === '/v1/avatar');
    assert.equal(typeof upload.body.registration_ticket, 'string');
    assert.equal(upload.header.Authorization, undefined);

    await register.onSubmit({ detail: { value: { nickname: 'Quin' } } });
    assert.equal(wx.requests.find((r) => r.path === '/v1/register').body.avatar_url, register.data.avatarUrl);
    const home = await mp.visit('/pages/home/home');
    assert.equal(home.data.user.avatar_url, register.data.avatarUrl);
  });

  test('registration: an avatar the server refuses shows why, and registration goes on without it', async () => {
    await requireRoute(server, 'post', '/v1/avatar');
    const wx = createWx({ simUrl: server.simUrl, user: 'rex' });
    const mp = loadExample({ wx, baseUrl: server.baseUrl });
    await (await mp.visit('/pages/login/login')).onGetPhoneNumber(await phoneEvent(server.simUrl, 'rex', '+8613900139012'));
    const register = await mp.visit('/pages/register/register');
    await register.onChooseAvatar({ detail: { avatarUrl: wx.addTempFile(images.notAnImage(), 'jpg') } });
    assert.equal(register.data.message, messages.zh.image_invalid);
    assert.equal(register.data.avatarUrl, '');
    await register.onSubmit({ detail: { value: { nickname: 'Rex' } } });
    assert.equal(wx.requests.find((r) => r.path === '/v1/register').body.avatar_url, undefined);
    assert.deepEqual(mp.lastNavigation(), { api: 'reLaunch', url: '/pages/home/home' });
  });

  test('home → profile page shows the user; without a sign-in it goes to the login page', async () => {
    const { wx, mp } = await signUp('sia', '+8613900139013', 'Sia');
    const home = await mp.visit('/pages/home/home');
    home.onProfile();
    assert.deepEqual(mp.lastNavigation(), { api: 'navigateTo', url: '/pages/profile/profile' });
    const profile = await mp.visit('/pages/profile/profile');
    assert.equal(profile.data.user.nickname, 'Sia');
    assert.equal(profile.data.user.phone_masked, '+86 139****9013');

    const stranger = loadExample({ wx: createWx({ simUrl: server.simUrl, user: 'sia-stranger' }), baseUrl: server.baseUrl });
    const nobody = await stranger.visit('/pages/profile/profile');
    assert.equal(nobody.data.user, null);
    assert.deepEqual(stranger.lastNavigation(), { api: 'reLaunch', url: '/pages/login/login' });
    assert.ok(wx.count('/v1/me') >= 2);
  });

  test('profile: the nickname is saved from the form; a blank one is not sent', async () => {
    await requireRoute(server, 'patch', '/v1/me');
    const { wx, mp } = await signUp('tao', '+8613900139014', 'Tao');
    const profile = await mp.visit('/pages/profile/profile');

    await profile.onSaveNickname({ detail: { value: { nickname: '   ' } } });
    assert.equal(profile.data.message, '昵称不能为空');
    assert.equal(wx.requests.filter((r) => r.method === 'PATCH').length, 0);

    await profile.onSaveNickname({ detail: { value: { nickname: ' 小涛 ' } } });
    assert.equal(profile.data.message, '');
    assert.equal(profile.data.user.nickname, '小涛');
    assert.deepEqual(wx.requests.filter((r) => r.method === 'PATCH').map((r) => r.body), [{ nickname: '小涛' }]);
    assert.deepEqual(wx.ui.at(-1), { api: 'showToast', title: '昵称已保存' });
    assert.equal((await mp.visit('/pages/home/home')).data.user.nickname, '小涛');
  });

  test('profile: chooseAvatar uploads with the bearer token and sets the avatar; it can be removed', async () => {
    await requireRoute(server, 'post', '/v1/avatar');
    const { wx, mp } = await signUp('uma', '+8613900139015', 'Uma');
    const profile = await mp.visit('/pages/profile/profile');
    await profile.onChooseAvatar({ detail: { avatarUrl: wx.addTempFile(images.png(80, 80), 'png') } });
    assert.equal(profile.data.message, '');
    assert.equal(profile.data.busy, '');
    assert.ok(profile.data.user.avatar_url.startsWith(`${server.baseUrl}/avatars/`));
    assert.match(wx.requests.find((r) => r.path === '/v1/avatar').header.Authorization, /^Bearer /);
    assert.deepEqual(wx.ui.at(-1), { api: 'showToast', title: '头像已更新' });

    await profile.onRemoveAvatar();
    assert.equal(profile.data.user.avatar_url, null);
  });

  test('profile: the phone button changes the number; a number another account holds shows why', async () => {
    await requireRoute(server, 'post', '/v1/me/phone');
    await signUp('vic-owner', '+8613900139016', 'Owner');
    const { wx, mp } = await signUp('vic', '+8613900139017', 'Vic');
    const profile = await mp.visit('/pages/profile/profile');

    await profile.onChangePhone(await phoneEvent(server.simUrl, 'vic', '+8613900139016'));
    assert.equal(profile.data.message, messages.zh.phone_taken);
    assert.equal(profile.data.user.phone_masked, '+86 139****9017');

    await profile.onChangePhone(await legacyPhoneEvent(server.simUrl, 'vic', '+8613900139018'));
    assert.equal(profile.data.message, '');
    assert.equal(profile.data.user.phone_masked, '+86 139****9018');
    assert.deepEqual(wx.ui.at(-1), { api: 'showToast', title: '手机号已更换' });

    await profile.onChangePhone(deniedEvent());
    assert.equal(profile.data.message, messages.zh.permission_denied);
  });

  test('profile: deleting the account asks first; cancel keeps it, confirm deletes and signs out', async () => {
    await requireRoute(server, 'delete', '/v1/me');
    const { wx, mp } = await signUp('wes', '+8613900139019', 'Wes');
    const profile = await mp.visit('/pages/profile/profile');

    wx.modalReply = 'cancel';
    await profile.onDeleteAccount();
    const modal = wx.ui.filter((u) => u.api === 'showModal').at(-1);
    assert.equal(modal.title, '注销账号');
    assert.match(modal.content, /无法恢复/);
    assert.equal(wx.requests.filter((r) => r.method === 'DELETE').length, 0, 'cancel sends nothing');
    assert.ok([...wx.storage.keys()].length > 0);

    await profile.onDeleteAccount();
    assert.equal(wx.requests.filter((r) => r.method === 'DELETE' && r.path === '/v1/me').length, 1);
    assert.deepEqual(mp.lastNavigation(), { api: 'reLaunch', url: '/pages/login/login?loggedOut=1' });
    assert.equal([...wx.storage.keys()].length, 0);

    // The WeChat account is new again: the login page offers the phone button.
    const login = await mp.visit('/pages/login/login');
    assert.equal(login.data.state, 'phone');
  });

  test('profile: export copies everything the server holds', async () => {
    await requireRoute(server, 'get', '/v1/me/export');
    const { wx, mp } = await signUp('xan', '+8613900139020', 'Xan');
    const profile = await mp.visit('/pages/profile/profile');
    await profile.onExport();
    const copied = JSON.parse(wx.ui.find((u) => u.api === 'setClipboardData').data);
    assert.equal(copied.user.phone_number, '+8613900139020');
    assert.equal(copied.user.nickname, 'Xan');
    assert.equal(copied.identities.length, 1);
  });
});
