// curl against the server, as docs/server.md shows it: non-streaming and streaming, OpenAI and
// Ollama, and the probes (/health, /, /v1/models, /api/tags).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { MODEL, startServer, watchdog } from './harness.mjs';

watchdog(120);
const run = promisify(execFile);
let server;

async function curl(...args) {
  const { stdout } = await run('curl', ['-sS', '--max-time', '60', ...args], {
    maxBuffer: 16 << 20,
  });
  return stdout;
}

// -w appends the status on its own line so one call checks both.
async function curlStatus(...args) {
  const out = await curl('-w', '\n%{http_code}', ...args);
  const cut = out.lastIndexOf('\n');
  return { body: out.slice(0, cut), status: Number(out.slice(cut + 1)) };
}

before(async () => {
  server = await startServer();
});
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, `server did not shut down cleanly:\n${server.log()}`);
});

test('health, root probe, model lists', async () => {
  assert.equal(JSON.parse(await curl(`${server.url}/health`)).status, 'ok');
  assert.equal(await curl(`${server.url}/`), 'Ollama is running');
  const head = await curl('-I', `${server.url}/`);
  assert.match(head, /^HTTP\/1\.1 200/);
  assert.equal(JSON.parse(await curl(`${server.url}/v1/models`)).data[0].id, MODEL);
  assert.equal(JSON.parse(await curl(`${server.url}/api/tags`)).models[0].name, `${MODEL}:latest`);
});

test('chat completion, non-streaming', async () => {
  const { body, status } = await curlStatus(`${server.url}/v1/chat/completions`,
    '-H', 'Content-Type: application/json', '-d', JSON.stringify({
      model: MODEL, messages: [{ role: 'user', content: 'Write a Python function' }],
      max_tokens: 16, temperature: 0,
    }));
  assert.equal(status, 200, body);
  const j = JSON.parse(body);
  assert.equal(j.object, 'chat.completion');
  assert.equal(typeof j.choices[0].message.content, 'string');
  assert.ok(j.choices[0].message.content.length > 0);
  assert.ok(['stop', 'length'].includes(j.choices[0].finish_reason));
  assert.ok(j.usage.completion_tokens >= 1 && j.usage.completion_tokens <= 16);
});

test('chat completion, streaming, equals the non-streaming text', async () => {
  const body = { model: MODEL, messages: [{ role: 'user', content: 'sort a list' }],
    max_tokens: 20, temperature: 0 };
  const whole = JSON.parse(await curl(`${server.url}/v1/chat/completions`,
    '-d', JSON.stringify(body)));
  const raw = await curl('-N', `${server.url}/v1/chat/completions`,
    '-d', JSON.stringify({ ...body, stream: true }));
  const events = raw.split('\n\n').filter((e) => e.length > 0);
  assert.ok(events.every((e) => e.startsWith('data: ')), raw);
  assert.equal(events.at(-1), 'data: [DONE]');
  let text = '';
  for (const e of events.slice(0, -1)) {
    const c = JSON.parse(e.slice(6));
    text += c.choices[0].delta.content ?? '';
  }
  assert.equal(text, whole.choices[0].message.content);
});

test('completions with a stop string and with FIM suffix', async () => {
  const plain = JSON.parse(await curl(`${server.url}/v1/completions`, '-d', JSON.stringify({
    model: MODEL, prompt: 'def fibonacci(n):\n', max_tokens: 40, temperature: 0 })));
  const text = plain.choices[0].text;
  assert.ok(text.length >= 8, text);
  // A stop string taken from the middle of the greedy output must cut it at its first
  // occurrence, wherever the token boundaries fall.
  const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
  const cut = JSON.parse(await curl(`${server.url}/v1/completions`, '-d', JSON.stringify({
    model: MODEL, prompt: 'def fibonacci(n):\n', max_tokens: 40, temperature: 0, stop })));
  assert.equal(cut.choices[0].text, text.slice(0, text.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, 'stop');
  const fim = JSON.parse(await curl(`${server.url}/v1/completions`, '-d', JSON.stringify({
    model: MODEL, prompt: 'def add(a, b):\n', suffix: '\n    return result\n',
    max_tokens: 12, temperature: 0 })));
  assert.equal(typeof fim.choices[0].text, 'string');
  assert.ok(fim.usage.completion_tokens >= 1);
});

test('a large body from plain `curl -d` (form content type) is read as JSON', async () => {
  // curl -d labels the body application/x-www-form-urlencoded; it must not matter.
  const { body, status } = await curlStatus(`${server.url}/v1/completions`, '-d', JSON.stringify({
    model: MODEL, prompt: 'x = 1\n'.repeat(100), max_tokens: 2, pad: 'p'.repeat(20000) }));
  assert.equal(status, 200, body);
});

test('ollama generate, streaming NDJSON and not', async () => {
  const body = { model: MODEL, prompt: 'import os', raw: true,
    options: { temperature: 0, num_predict: 12 } };
  const raw = await curl('-N', `${server.url}/api/generate`, '-d', JSON.stringify(body));
  const lines = raw.trim().split('\n').map((l) => JSON.parse(l));
  const last = lines.at(-1);
  assert.equal(last.done, true);
  assert.ok(['stop', 'length'].includes(last.done_reason));
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_count',
    'prompt_eval_duration', 'eval_count', 'eval_duration']) {
    assert.equal(typeof last[k], 'number', k);
  }
  const streamed = lines.map((l) => l.response).join('');
  const whole = JSON.parse(await curl(`${server.url}/api/generate`,
    '-d', JSON.stringify({ ...body, stream: false })));
  assert.equal(whole.response, streamed);
  assert.equal(whole.eval_count, last.eval_count);
});

test('metrics are Prometheus text', async () => {
  const text = await curl(`${server.url}/metrics`);
  assert.match(text, /^# TYPE dsx_requests_total counter$/m);
  assert.match(text, /^dsx_requests_total\{route="\/v1\/chat\/completions",status="200"\} \d+$/m);
  assert.match(text, /^dsx_time_to_first_token_seconds_count [1-9]\d*$/m);
  assert.match(text, /^dsx_kv_cache_blocks_total [1-9]\d*$/m);
});
