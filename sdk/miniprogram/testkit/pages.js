// Runs the example mini program's own files in Node: App(), Page() and getApp() as the runtime
// provides them, a page instance with data and setData, and navigation read back from the
// shim's recorded wx.reLaunch / navigateTo / redirectTo calls.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const EXAMPLE_ROOT = path.resolve(__dirname, '..', '..', '..', 'examples', 'miniprogram');

function forgetExampleModules() {
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(EXAMPLE_ROOT + path.sep)) delete require.cache[key];
  }
}

function parseUrl(url) {
  const [route, qs = ''] = url.replace(/^\//, '').split('?');
  return { route, query: Object.fromEntries(new URLSearchParams(qs)) };
}

/**
 * Loads app.js with `wx` as the global wx and config.baseUrl pointed at the test server.
 * Returns {app, appJson, open(url), visit(url), lastNavigation()}.
 */
function loadExample({ wx, baseUrl }) {
  forgetExampleModules();
  let appDef = null;
  let pageDef = null;
  globalThis.wx = wx;
  globalThis.App = (def) => {
    appDef = def;
  };
  globalThis.getApp = () => appDef;
  globalThis.Page = (def) => {
    pageDef = def;
  };
  require(path.join(EXAMPLE_ROOT, 'config.js')).baseUrl = baseUrl;
  require(path.join(EXAMPLE_ROOT, 'app.js'));
  if (!appDef) throw new Error('app.js did not call App()');
  const appJson = JSON.parse(fs.readFileSync(path.join(EXAMPLE_ROOT, 'app.json'), 'utf8'));

  /** A fresh instance of the page at url (no lifecycle called). */
  function open(url) {
    const { route, query } = parseUrl(url);
    if (!appJson.pages.includes(route)) throw new Error(`${route} is not in app.json's pages`);
    const file = path.join(EXAMPLE_ROOT, `${route}.js`);
    delete require.cache[file];
    pageDef = null;
    require(file);
    if (!pageDef) throw new Error(`${route}.js did not call Page()`);
    const page = Object.assign({}, pageDef, {
      route,
      options: query,
      data: structuredClone(pageDef.data || {}),
      setData(patch, cb) {
        Object.assign(this.data, structuredClone(patch));
        if (cb) cb();
      },
    });
    return { page, query };
  }

  /** Opens the page and runs onLoad(query) then onShow(), awaiting what they return. */
  async function visit(url) {
    const { page, query } = open(url);
    if (page.onLoad) await page.onLoad(query);
    if (page.onShow) await page.onShow();
    return page;
  }

  function lastNavigation() {
    const navs = wx.ui.filter((u) => ['navigateTo', 'redirectTo', 'reLaunch'].includes(u.api));
    return navs.length ? navs[navs.length - 1] : null;
  }

  return { app: appDef, appJson, open, visit, lastNavigation };
}

/** The handler names a page's WXML binds (bindtap="x", bind:chooseavatar="y", catchtap="z"). */
function boundHandlers(route) {
  const wxml = fs.readFileSync(path.join(EXAMPLE_ROOT, `${route}.wxml`), 'utf8');
  const names = [];
  const re = /\s(?:bind|catch|capture-bind|capture-catch):?[a-z]+="([^"{}]+)"/g;
  let m;
  while ((m = re.exec(wxml))) names.push(m[1]);
  return names;
}

module.exports = { loadExample, boundHandlers, EXAMPLE_ROOT };
