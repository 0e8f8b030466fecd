// The package as npm would publish it: `npm pack --dry-run` holds the runtime, the types, the
// README and the licenses, nothing else (no tests, no testkit, no scripts); package.json points
// at files that are in it, declares no dependency, and resolves from CommonJS, ESM and by name.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const PKG_DIR = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8'));
const PUBLISHED = ['LICENSE-APACHE', 'LICENSE-MIT', 'README.md', 'index.d.ts', 'index.js', 'package.json'];

function packDryRun() {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: PKG_DIR,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    shell: process.platform === 'win32',
    env: { ...process.env, npm_config_loglevel: 'error', npm_config_update_notifier: 'false', npm_config_fund: 'false' },
  });
  const [info] = JSON.parse(out);
  return info;
}

test('npm pack holds only the runtime file, the types, the README and the licenses', () => {
  const info = packDryRun();
  assert.equal(info.name, '@wxlogin/miniprogram');
  assert.deepEqual(info.files.map((f) => f.path).sort(), PUBLISHED);
  assert.deepEqual(info.bundled, []);
});

test('package.json: entry points inside the package, no dependencies, the workspace licence', () => {
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies', 'devDependencies']) {
    assert.equal(pkg[field], undefined, `${field}: the SDK is dependency-free`);
  }
  assert.equal(pkg.main, 'index.js');
  assert.equal(pkg.types, 'index.d.ts');
  assert.deepEqual(pkg.exports['.'], { types: './index.d.ts', default: './index.js' });
  for (const file of [pkg.main, pkg.types, ...Object.values(pkg.exports['.'])]) {
    assert.ok(PUBLISHED.includes(file.replace(/^\.\//, '')), `${file} is published`);
  }
  const cargo = fs.readFileSync(path.join(PKG_DIR, '..', '..', 'Cargo.toml'), 'utf8');
  assert.match(cargo, new RegExp(`^license = "${pkg.license}"$`, 'm'), 'the same licence as the Rust workspace');
  assert.match(fs.readFileSync(path.join(PKG_DIR, 'LICENSE-MIT'), 'utf8'), /^MIT License/);
  assert.match(fs.readFileSync(path.join(PKG_DIR, 'LICENSE-APACHE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
  assert.equal(pkg.publishConfig.access, 'public', 'a scoped package is private unless told');
});

test('the package resolves by its name from CommonJS and from ESM, with the same exports', async () => {
  // Self-reference through "exports", as a bundler (uni-app's, Taro's) or Node resolves it.
  const cjs = require(pkg.name);
  assert.equal(cjs, require('..'));
  const esm = await import(pkg.name);
  for (const name of ['createWxLogin', 'WxLoginError', 'messages']) {
    assert.equal(typeof cjs[name], name === 'messages' ? 'object' : 'function', name);
    assert.equal(esm[name], cjs[name], `import { ${name} }`);
  }
});
