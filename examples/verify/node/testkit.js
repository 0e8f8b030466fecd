// Test support: a real `wxlogin serve --dev` on free ports with short token and publish
// times, a signed-in user, refresh, and `wxlogin keys rotate` against its data directory.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const APPID = 'wx0000000000000001';
// Tokens live 4 s (the expiry test waits for one); a rotated-in key is published 3 s before
// it signs, so the JWKS max-age is 2 s and instances reload keys every second.
const ENV = {
  ...process.env,
  NO_COLOR: '1',
  WXLOGIN__TOKENS__ACCESS_TTL_SECS: '4',
  WXLOGIN__TOKENS__PUBLISH_DELAY_SECS: '3',
};

function binary() {
  const bin = process.env.WXLOGIN_BIN || path.join(REPO_ROOT, 'target', 'debug', 'wxlogin');
  if (!fs.existsSync(bin)) throw new Error(`no wxlogin binary at ${bin}: cargo build -p wxlogin-server`);
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function answers(url) {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** Polls `check` every 100 ms until it returns a truthy value; fails after `ms`. */
async function eventually(what, check, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function post(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function startServer() {
  const bin = binary();
  const [port, simPort] = [await freePort(), await freePort()];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxlogin-verify-'));
  const args = ['serve', '--dev', '--port', String(port), '--sim-port', String(simPort), '--admin-port', '0', '--data-dir', dataDir];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
  let output = '';
  child.stdout.on('data', (c) => (output = (output + c).slice(-20000)));
  child.stderr.on('data', (c) => (output = (output + c).slice(-20000)));
  const exited = new Promise((r) => child.on('exit', r));
  const issuer = `http://127.0.0.1:${port}`;
  const sim = `http://127.0.0.1:${simPort}`;
  await eventually(`wxlogin on ${issuer}\n${output}`, async () => (await answers(`${issuer}/healthz`)) && answers(`${sim}/_sim/v1/stats`));
  let users = 0;
  return {
    issuer,
    async signIn() {
      const user = `user${++users}`;
      const { code } = await post(`${sim}/_sim/v1/login_codes`, { appid: APPID, user });
      const { session } = await post(`${issuer}/v1/login`, { code });
      const pcode = (await post(`${sim}/_sim/v1/phone_codes`, { appid: APPID, user, phone: `+86138001380${String(users).padStart(2, '0')}` })).code;
      const { registration_ticket } = await post(`${issuer}/v1/phone`, { session, code: pcode });
      return (await post(`${issuer}/v1/register`, { registration_ticket, nickname: user })).tokens;
    },
    async refresh(refreshToken) {
      return (await post(`${issuer}/v1/token/refresh`, { refresh_token: refreshToken })).tokens;
    },
    /** `wxlogin keys rotate` against this server's data directory; returns the new kid. */
    rotate() {
      const out = execFileSync(bin, ['keys', 'rotate', '--dev', '--data-dir', dataDir], { env: ENV }).toString();
      return /signing key (\S+):/.exec(out)[1];
    },
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function kidOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).kid;
}

module.exports = { startServer, eventually, kidOf };
