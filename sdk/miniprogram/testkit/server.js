// Starts a real `wxlogin serve --dev` for the Node tests: free ports, a fresh data directory,
// readiness by polling, and a stop() for `after()`.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const DEV_APPID = 'wx0000000000000001';

/** WXLOGIN_BIN, else target/release/wxlogin, else target/debug/wxlogin. */
function findBinary() {
  const exe = process.platform === 'win32' ? 'wxlogin.exe' : 'wxlogin';
  if (process.env.WXLOGIN_BIN) {
    if (!fs.existsSync(process.env.WXLOGIN_BIN)) {
      throw new Error(`WXLOGIN_BIN=${process.env.WXLOGIN_BIN} does not exist`);
    }
    return process.env.WXLOGIN_BIN;
  }
  const candidates = ['release', 'debug'].map((p) => path.join(REPO_ROOT, 'target', p, exe));
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) {
    throw new Error(
      'No wxlogin binary: run `cargo build -p wxlogin-server --bin wxlogin` first, ' +
        `or set WXLOGIN_BIN (looked in ${candidates.join(', ')})`
    );
  }
  return found;
}

/** A port the OS says is free now (bind 0, read, close). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function answers(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

async function startOnce(bin, env) {
  const port = await freePort();
  let simPort = await freePort();
  while (simPort === port) simPort = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxlogin-sdk-test-'));
  // The admin listener (/metrics) on a port the OS picks: test files run in parallel.
  const args = ['serve', '--dev', '--port', String(port), '--sim-port', String(simPort), '--admin-port', '0', '--data-dir', dataDir];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-20000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  const baseUrl = `http://127.0.0.1:${port}`;
  const simUrl = `http://127.0.0.1:${simPort}`;
  const cleanup = () => fs.rmSync(dataDir, { recursive: true, force: true });

  // Bounded: 100 polls, 100 ms apart.
  for (let i = 0; i < 100; i++) {
    if (exited) break;
    if ((await answers(`${baseUrl}/healthz`)) && (await answers(`${simUrl}/_sim/v1/stats`))) {
      // Should the test process end without after() (a crash, a cancelled run), take the
      // server down with it.
      const orphanGuard = () => {
        child.kill('SIGKILL');
        cleanup();
      };
      process.on('exit', orphanGuard);
      return {
        baseUrl,
        simUrl,
        appid: DEV_APPID,
        output: () => output,
        async stop() {
          process.off('exit', orphanGuard);
          if (!exited) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exit;
            clearTimeout(timer);
          }
          cleanup();
        },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!exited) {
    child.kill('SIGKILL');
    await exit;
    cleanup();
    throw new Error(`wxlogin did not answer /healthz within 10 s (${bin} ${args.join(' ')}):\n${output}`);
  }
  cleanup();
  return { exited, output, args };
}

/**
 * Starts the server; resolves {baseUrl, simUrl, appid, stop(), output()}. Retries with new
 * ports when the process exits at once (another process took a port between our probe and its
 * bind). `env` adds configuration (`WXLOGIN__SECTION__KEY`) to the dev defaults.
 */
async function startServer({ env = {} } = {}) {
  const bin = findBinary();
  let last;
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = await startOnce(bin, env);
    if (started.baseUrl) return started;
    last = started;
  }
  throw new Error(
    `wxlogin exited before it was ready (${JSON.stringify(last.exited)}): ${bin} ${last.args.join(' ')}\n${last.output}`
  );
}

/** POSTs JSON to the simulator's control API. */
async function simPost(simUrl, route, body) {
  const res = await fetch(`${simUrl}/_sim/v1/${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`simulator ${route}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

const routeCache = new Map();

/**
 * Fails the calling test, with a message that says so, when the server does not route
 * `method path`: an empty request answered 404 `not_found` or 405 `method_not_allowed` means
 * the endpoint has not landed in this binary (any other answer, 400 or 401, means it is there).
 * The router is asked rather than /openapi.json, which may lag behind it. Never a skip: CI must
 * not pass a suite that did not run.
 */
async function requireRoute(server, method, route) {
  const key = `${server.baseUrl} ${method.toUpperCase()} ${route}`;
  if (!routeCache.has(key)) {
    routeCache.set(
      key,
      fetch(`${server.baseUrl}${route}`, { method: method.toUpperCase() }).then(async (res) => {
        const body = await res.json().catch(() => null);
        const code = body && body.error && body.error.code;
        return !(code === 'not_found' || code === 'method_not_allowed');
      })
    );
  }
  if (!(await routeCache.get(key))) {
    throw new Error(
      `this wxlogin binary does not route ${method.toUpperCase()} ${route}: ` +
        'build the server from a branch that has it'
    );
  }
}

module.exports = { startServer, findBinary, simPost, requireRoute, DEV_APPID };
