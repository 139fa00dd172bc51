// Starts and stops `dsx serve` for a test file: loopback only, a port the server picks itself
// (--port 0, read back from its startup line, so there is no race for a "free" port), bounded
// waits everywhere, and the server killed whatever way the test process ends.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..');
export const cli = process.env.DSX_CLI ?? join(repoRoot, 'build', 'dsx');
export const modelDir = process.env.DSX_MODEL ?? join(repoRoot, 'models', 'demo-coder');
export const MODEL = 'demo-coder';

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(1));
}

// A test file that hangs is killed (with its server) rather than holding ctest hostage.
export function watchdog(seconds) {
  setTimeout(() => {
    console.error(`watchdog: test file exceeded ${seconds}s`);
    process.exit(1);
  }, seconds * 1000).unref();
}

// Exits with ctest's skip code when the npm clients are not installed (`npm ci` not run).
export function requireNodeModules(...names) {
  for (const name of names) {
    if (!existsSync(join(repoRoot, 'node_modules', name))) {
      console.error(`node_modules/${name} is missing: run \`npm ci\` in ${repoRoot}`);
      process.exit(77);
    }
  }
}

export async function startServer(extraArgs = [], { timeoutMs = 60000, parallel = 16 } = {}) {
  if (!existsSync(cli)) throw new Error(`dsx binary not found at ${cli} (set DSX_CLI)`);
  const args = ['serve', '--model', modelDir, '--host', '127.0.0.1', '--port', '0',
    '--ctx-size', '1024', '--parallel', String(parallel), '-t', '2', ...extraArgs];
  const child = spawn(cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let log = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${timeoutMs} ms:\n${log}`));
    }, timeoutMs);
    child.stderr.on('data', (d) => {
      log += d.toString();
      const m = log.match(/on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${log}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    log: () => log,
    alive: () => child.exitCode === null && child.signalCode === null,
    // SIGTERM: a clean shutdown (exit 0, so also no sanitizer report) is part of every test.
    // SIGKILL if it takes too long, which fails the test.
    async stop(graceMs = 15000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      const result = await exited;
      if (result.code !== 0) {
        throw new Error(`server exited with ${result.code ?? result.signal}:\n${log}`);
      }
      return result;
    },
  };
}

// fetch with a deadline.
export async function request(url, init = {}, timeoutMs = 30000) {
  return fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(timeoutMs) });
}

export async function postJson(url, body, headers = {}) {
  return request(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

// The value of an unlabelled metric from /metrics.
export async function metric(url, name) {
  const text = await (await request(`${url}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  if (!m) throw new Error(`metric ${name} not found:\n${text}`);
  return Number(m[1]);
}

// Polls `fn` until it returns true, up to timeoutMs.
export async function eventually(fn, timeoutMs = 10000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Reads an SSE response body into the JSON payloads of its data lines ('[DONE]' kept as is).
export async function readSse(res) {
  const text = await res.text();
  return text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => {
    const data = l.slice(6);
    return data === '[DONE]' ? data : JSON.parse(data);
  });
}
