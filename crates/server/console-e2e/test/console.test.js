// The admin console in a real browser: Playwright (playwright-core) drives Debian's chromium
// against a `wxlogin serve --dev` on free ports. A user is made through the simulator and the
// public API (as the dev banner's curl walk-through does); then an operator signs in, finds
// them by phone, disables, enables, unbinds and deletes them. Screenshots of every page at
// 1280x800 and 390x844 go to target/console-screenshots/.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { startServer, makeUser, REPO_ROOT } = require('../server.js');

const SHOTS = path.join(REPO_ROOT, 'target', 'console-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// As the machine's probe runs it: no sandbox (root), and none of Chromium's own traffic.
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let server;
let browser;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function shoot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Clicks a submit button and waits for the page it leads to. */
async function submit(page, button) {
  await Promise.all([page.waitForNavigation(), button.click()]);
}

test('an operator signs in, finds a user by phone, disables, enables, unbinds and deletes them', async () => {
  const user = await makeUser(server, { name: 'alice', phone: '+8613800138000', nickname: 'Alice 张' });
  await makeUser(server, { name: 'bob', phone: '+8613900139000', nickname: 'Bob' });
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
  const page = await context.newPage();
  // A CSP violation (an inline script or style slipping in) shows as a console error.
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  // A wrong key is refused, and nothing is kept.
  await page.goto(`${server.admin}/console/`);
  await shoot(page, 'sign-in-desktop');
  await page.getByLabel('Admin key').fill('wxa_this-is-not-a-key');
  await submit(page, page.getByRole('button', { name: 'Sign in' }));
  await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
  assert.equal((await context.cookies()).filter((c) => c.name === 'wxlogin_console').length, 0);

  await page.getByLabel('Admin key').fill(server.adminKey);
  await submit(page, page.getByRole('button', { name: 'Sign in' }));
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  const [cookie] = (await context.cookies()).filter((c) => c.name === 'wxlogin_console');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.ok(!cookie.value.includes(server.adminKey.slice(4)));
  const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length]);
  assert.deepEqual(stored, [0, 0]);
  assert.ok(!(await page.content()).includes(server.adminKey));
  await shoot(page, 'overview-desktop');

  // Find Alice by phone.
  await submit(page, page.getByRole('link', { name: 'Users', exact: true }));
  await page.getByRole('searchbox', { name: 'Search users' }).fill('13800138000');
  await submit(page, page.getByRole('button', { name: 'Search' }));
  const rows = page.locator('table.users tbody tr');
  assert.equal(await rows.count(), 1);
  await page.getByRole('searchbox', { name: 'Search users' }).fill('');
  await submit(page, page.getByRole('button', { name: 'Search' }));
  await shoot(page, 'users-desktop');
  await page.getByRole('searchbox', { name: 'Search users' }).fill('+8613800138000');
  await submit(page, page.getByRole('button', { name: 'Search' }));
  await submit(page, rows.first().getByRole('link'));
  await page.getByRole('heading', { name: 'Alice 张' }).waitFor();
  assert.ok(page.url().endsWith(`/console/users/${user.userId}`));

  // A change without the CSRF token is refused (the browser's cookie, no token).
  const forged = await context.request.post(`${server.admin}/console/users/${user.userId}/disable`, {
    form: { csrf: 'forged' }, maxRedirects: 0,
  });
  assert.equal(forged.status(), 403);
  const noToken = await context.request.post(`${server.admin}/console/users/${user.userId}/revoke`, {
    form: {}, maxRedirects: 0,
  });
  assert.equal(noToken.status(), 403);
  assert.equal((await server.refresh(user.refreshToken)).status, 200);
  user.refreshToken = server.lastRefresh.tokens.refresh_token;

  // Disable: the user's next refresh is refused.
  await submit(page, page.getByRole('button', { name: 'Disable' }));
  await page.getByRole('button', { name: 'Enable' }).waitFor();
  const refused = await server.refresh(user.refreshToken);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'user_disabled');
  await shoot(page, 'user-disabled-desktop');
  await submit(page, page.getByRole('button', { name: 'Enable' }));
  await page.getByRole('button', { name: 'Disable' }).waitFor();

  await submit(page, page.getByRole('button', { name: 'Revoke sessions' }));
  await page.getByRole('status').waitFor();
  await submit(page, page.getByRole('button', { name: 'Unbind' }));
  await page.getByText('No WeChat identity is bound.').waitFor();
  await shoot(page, 'user-desktop');

  // Events: Alice's, newest first, and one in detail.
  await submit(page, page.getByRole('link', { name: 'Events', exact: true }));
  await page.getByRole('heading', { name: 'Events' }).waitFor();
  const types = await page.locator('table.events tbody tr td:nth-child(2)').allTextContents();
  assert.equal(types[0], 'identity.unbound');
  await shoot(page, 'events-desktop');
  await submit(page, page.locator('table.events tbody tr').first().getByRole('link').first());
  await page.getByRole('heading', { name: 'Payload' }).waitFor();
  await shoot(page, 'event-desktop');

  await submit(page, page.getByRole('link', { name: 'Keys', exact: true }));
  await submit(page, page.getByRole('button', { name: 'Rotate' }));
  await page.getByText('Rotation scheduled.').waitFor();
  await shoot(page, 'keys-desktop');

  // Delete needs the user id typed: the button stays disabled until it is.
  await page.goto(`${server.admin}/console/users/${user.userId}`);
  const del = page.getByRole('button', { name: 'Delete' });
  assert.equal(await del.isDisabled(), true);
  await page.getByLabel('Type the user id to confirm').fill('yes');
  assert.equal(await del.isDisabled(), true);
  await page.getByLabel('Type the user id to confirm').fill(user.userId);
  await submit(page, del);
  await page.getByText('The user was deleted.').waitFor();
  const gone = await page.goto(`${server.admin}/console/users/${user.userId}`);
  assert.equal(gone.status(), 404);

  // Chinese, remembered once chosen.
  await page.goto(`${server.admin}/console/?lang=zh`);
  await page.getByRole('heading', { name: '概览' }).waitFor();
  await shoot(page, 'overview-zh-desktop');
  await page.goto(`${server.admin}/console/users`);
  await page.getByRole('searchbox', { name: '搜索用户' }).waitFor();
  await page.goto(`${server.admin}/console/?lang=en`);

  await submit(page, page.getByRole('button', { name: 'Sign out' }));
  await page.getByLabel('Admin key').waitFor();
  assert.equal((await context.cookies()).filter((c) => c.name === 'wxlogin_console').length, 0);
  // The refusals above (401, 404) are logged as failed loads; nothing else may be.
  const unexpected = errors.filter((e) => !/status of (401|404)/.test(e));
  assert.deepEqual(unexpected, []);
  await context.close();
});

test('every page fits a phone screen', async () => {
  const user = await makeUser(server, { name: 'carol', phone: '+8613700137000', nickname: 'Carol' });
  const context = await browser.newContext({ viewport: PHONE, locale: 'zh-CN', isMobile: true });
  const blank = await context.newPage();
  await blank.goto(`${server.admin}/console/sign-in`);
  await blank.getByLabel('管理密钥').waitFor();
  await shoot(blank, 'sign-in-zh-phone');
  // The sign-in page is Chinese for this browser; the English switch is remembered.
  const page = await context.newPage();
  await page.goto(`${server.admin}/console/sign-in?lang=en`);
  await page.getByLabel('Admin key').fill(server.adminKey);
  await submit(page, page.getByRole('button', { name: 'Sign in' }));
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  const pages = [
    ['overview', '/console/'],
    ['users', '/console/users'],
    ['user', `/console/users/${user.userId}`],
    ['events', '/console/events'],
    ['keys', '/console/keys'],
  ];
  for (const [name, url] of pages) {
    const res = await page.goto(`${server.admin}${url}`);
    assert.equal(res.status(), 200, url);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${url} scrolls sideways by ${overflow}px`);
    await shoot(page, `${name}-phone`);
  }
  await context.close();
});
