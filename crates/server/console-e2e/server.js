// Test support: a real `wxlogin serve --dev` on free ports (its admin key read from the
// banner), and users made through the simulator and the public API, as the banner's curl
// walk-through makes them.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const APPID = 'wx0000000000000001';

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

/** Polls `check` every 100 ms until it returns a truthy value; fails after `ms`. */
async function eventually(what, check, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function call(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function post(url, body) {
  const res = await call(url, body);
  if (res.status >= 300) throw new Error(`${url}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function startServer() {
  const [port, simPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxlogin-console-'));
  const args = [
    'serve', '--dev', '--port', String(port), '--sim-port', String(simPort),
    '--admin-port', String(adminPort), '--data-dir', dataDir,
  ];
  const child = spawn(binary(), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  child.stdout.on('data', (c) => (output = (output + c).slice(-50000)));
  child.stderr.on('data', (c) => (output = (output + c).slice(-50000)));
  const exited = new Promise((r) => child.on('exit', r));
  const server = {
    api: `http://127.0.0.1:${port}`,
    sim: `http://127.0.0.1:${simPort}`,
    admin: `http://127.0.0.1:${adminPort}`,
    adminKey: null,
    lastRefresh: null,
    async refresh(token) {
      const res = await call(`${this.api}/v1/token/refresh`, { refresh_token: token });
      if (res.status === 200) this.lastRefresh = res.body;
      return res;
    },
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10000))]);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    server.adminKey = await eventually('the banner\'s admin key', () => {
      const m = output.match(/admin key\s+(wxa_[A-Za-z0-9_-]+)/);
      return m && m[1];
    });
    await eventually('the admin listener', async () => {
      try {
        return (await fetch(`${server.admin}/metrics`)).ok;
      } catch {
        return false;
      }
    });
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n--- wxlogin output ---\n${output}`);
  }
  return server;
}

/** A registered user: wx.login's code, login, the phone button's code, phone, register. */
async function makeUser(server, { name, phone, nickname }) {
  const { code } = await post(`${server.sim}/_sim/v1/login_codes`, { appid: APPID, user: name });
  const { session } = await post(`${server.api}/v1/login`, { code });
  const pcode = (await post(`${server.sim}/_sim/v1/phone_codes`, { appid: APPID, user: name, phone })).code;
  const { registration_ticket } = await post(`${server.api}/v1/phone`, { session, code: pcode });
  const reg = await post(`${server.api}/v1/register`, { registration_ticket, nickname });
  return { userId: reg.user.user_id, refreshToken: reg.tokens.refresh_token };
}

module.exports = { startServer, makeUser, REPO_ROOT };
