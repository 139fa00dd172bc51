// Bad requests get the right 4xx in the right shape and the server keeps serving; a client that
// disconnects, mid-stream or waiting for a whole answer, has its request cancelled and its cache
// freed; a full queue is a 503; --api-key is enforced.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { MODEL, eventually, metric, postJson, request, startServer, watchdog } from './harness.mjs';

watchdog(150);
let server;
const chat = { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 };

before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

async function expectOpenAIError(res, status, param) {
  assert.equal(res.status, status);
  const j = await res.json();
  assert.equal(typeof j.error.message, 'string');
  assert.equal(typeof j.error.type, 'string');
  assert.ok('param' in j.error && 'code' in j.error);
  if (param !== undefined) assert.equal(j.error.param, param);
}

async function stillServes() {
  const r = await postJson(`${server.url}/v1/chat/completions`, chat);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).object, 'chat.completion');
}

test('malformed JSON and wrong types are 400', async () => {
  const url = `${server.url}/v1/chat/completions`;
  await expectOpenAIError(await postJson(url, '{"model": '), 400);
  await expectOpenAIError(await postJson(url, '[]'), 400);
  await expectOpenAIError(await postJson(url, { ...chat, temperature: 'hot' }), 400, 'temperature');
  await expectOpenAIError(await postJson(url, { ...chat, messages: 'hi' }), 400, 'messages');
  await expectOpenAIError(await postJson(url, { ...chat, stream: 'yes' }), 400, 'stream');
  await expectOpenAIError(await postJson(url, { ...chat, stop: [1] }), 400);
  await expectOpenAIError(await postJson(`${server.url}/v1/completions`,
    { model: MODEL, prompt: { text: 'x' } }), 400, 'prompt');
  // Nesting that would overflow a stack if anything recursed over it.
  const deep = `{"model":"${MODEL}","x":${'['.repeat(1e6)}${']'.repeat(1e6)}}`;
  await expectOpenAIError(await postJson(url, deep), 400);
  // Unknown fields are ignored, as OpenAI does.
  assert.equal((await postJson(url, { ...chat, not_a_field: [1, 2] })).status, 200);
  const r = await postJson(`${server.url}/api/generate`, '{"model":');
  assert.equal(r.status, 400);
  assert.equal(typeof (await r.json()).error, 'string');  // Ollama's flat shape
  await stillServes();
});

test('negative, zero and huge max_tokens are 400', async () => {
  const url = `${server.url}/v1/chat/completions`;
  for (const max_tokens of [-1, 0, 1025, 1e12]) {
    await expectOpenAIError(await postJson(url, { ...chat, max_tokens }), 400, 'max_tokens');
  }
  await expectOpenAIError(await postJson(`${server.url}/v1/completions`,
    { model: MODEL, prompt: 'x', max_tokens: -3 }), 400, 'max_tokens');
  // A prompt longer than the context.
  await expectOpenAIError(await postJson(url, { ...chat, max_tokens: undefined,
    messages: [{ role: 'user', content: 'x = 1\n'.repeat(600) }] }), 400);
  await stillServes();
});

test('unknown model and route are 404', async () => {
  await expectOpenAIError(await postJson(`${server.url}/v1/chat/completions`,
    { ...chat, model: 'gpt-4o' }), 404, 'model');
  const o = await postJson(`${server.url}/api/chat`, { model: 'llama3', messages: chat.messages });
  assert.equal(o.status, 404);
  assert.match((await o.json()).error, /not found/);
  await expectOpenAIError(await request(`${server.url}/v1/nothing`), 404);
  await stillServes();
});

test('an oversized body is 413', async () => {
  const big = JSON.stringify({ ...chat, messages: [{ role: 'user', content: 'a'.repeat(9 << 20) }] });
  let status;
  try {
    status = (await postJson(`${server.url}/v1/chat/completions`, big)).status;
  } catch (e) {
    // The server may answer and close before the upload ends; the client can then see a reset.
    status = e.cause?.code ?? String(e);
  }
  assert.ok(status === 413 || status === 'ECONNRESET' || status === 'EPIPE', `got ${status}`);
  await stillServes();
});

test('a disconnecting client frees its cache', async () => {
  const ac = new AbortController();
  const r = await request(`${server.url}/v1/completions`, {
    method: 'POST', signal: ac.signal, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: 'import os', max_tokens: 900, temperature: 0,
      stream: true }),
  });
  assert.equal(r.status, 200);
  const reader = r.body.getReader();
  for (let chunks = 0; chunks < 3;) {
    const { done } = await reader.read();
    assert.ok(!done, 'stream ended early');
    chunks++;
  }
  assert.ok(await metric(server.url, 'dsx_kv_cache_blocks_used') > 0);
  assert.equal(await metric(server.url, 'dsx_requests_running'), 1);
  ac.abort();
  await eventually(async () =>
    (await metric(server.url, 'dsx_kv_cache_blocks_used')) === 0 &&
    (await metric(server.url, 'dsx_requests_running')) === 0 &&
    (await metric(server.url, 'dsx_requests_in_flight')) === 0, 10000, 'the cache to be freed');
  // It was cancelled, not run to the end: far fewer than 900 tokens were generated.
  assert.ok(await metric(server.url, 'dsx_generated_tokens_total') < 900);
  await stillServes();
});

// A non-streaming handler writes nothing until the end, so no failed write can reveal that its
// client left; the server watches the connection itself. The abort comes while the request is
// running (fetch has no response yet, only the server's gauges show it).
async function abortWhileRunning(path, body) {
  const before = await metric(server.url, 'dsx_generated_tokens_total');
  const ac = new AbortController();
  const pending = request(`${server.url}${path}`, {
    method: 'POST', signal: ac.signal, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then(() => 'answered', (e) => (e.name === 'AbortError' ? 'aborted' : String(e)));
  await eventually(async () =>
    (await metric(server.url, 'dsx_requests_running')) === 1 &&
    (await metric(server.url, 'dsx_kv_cache_blocks_used')) > 0, 10000, 'the request to run');
  ac.abort();
  assert.equal(await pending, 'aborted', 'the request ended before the client left');
  await eventually(async () =>
    (await metric(server.url, 'dsx_kv_cache_blocks_used')) === 0 &&
    (await metric(server.url, 'dsx_requests_running')) === 0 &&
    (await metric(server.url, 'dsx_requests_in_flight')) === 0, 5000, 'the cache to be freed');
  // Cancelled, not run to the end: far fewer than the 900 tokens asked for.
  const generated = (await metric(server.url, 'dsx_generated_tokens_total')) - before;
  assert.ok(generated < 900, `generated ${generated} tokens`);
  await stillServes();
}

test('a disconnecting non-streaming client frees its cache', async () => {
  await abortWhileRunning('/v1/completions',
    { model: MODEL, prompt: 'import os', max_tokens: 900, temperature: 0 });
});

test('a disconnecting non-streaming Ollama client frees its cache', async () => {
  await abortWhileRunning('/api/generate', { model: MODEL, prompt: 'import os', raw: true,
    stream: false, options: { num_predict: 900, temperature: 0 } });
});

test('a full queue is 503, and --api-key is enforced', async () => {
  const small = await startServer(['--queue', '1', '--api-key', 'sekret'], { parallel: 1 });
  try {
    const auth = { Authorization: 'Bearer sekret' };
    const long = { model: MODEL, prompt: 'import os', max_tokens: 900, temperature: 0,
      stream: true };
    const url = `${small.url}/v1/completions`;
    assert.equal((await postJson(url, long)).status, 401);
    assert.equal((await postJson(url, long, { Authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await request(`${small.url}/health`)).status, 200);  // probes need no key
    assert.equal((await request(`${small.url}/metrics`, { headers: auth })).status, 200);

    const gauges = async () => {
      const text = await (await request(`${small.url}/metrics`, { headers: auth })).text();
      const get = (name) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))[1]);
      return { running: get('dsx_requests_running'), waiting: get('dsx_requests_waiting'),
        used: get('dsx_kv_cache_blocks_used') };
    };
    // Each step waits for the engine to take the previous request, so the queue is in the
    // state the next step assumes however the machine schedules threads.
    const first = await postJson(url, long, auth);
    assert.equal(first.status, 200);
    await eventually(async () => (await gauges()).running === 1, 10000, 'the first to run');
    const second = await postJson(url, long, auth);  // waits in the queue of one
    assert.equal(second.status, 200);
    await eventually(async () => (await gauges()).waiting === 1, 10000, 'the second to wait');
    const third = await postJson(url, { ...long, stream: false }, auth);
    await expectOpenAIError(third, 503);
    // A queued client that leaves is noticed too (the keep-alive comments fail to send), and
    // leaves the queue while the first request keeps running.
    await second.body.cancel();
    await eventually(async () => {
      const g = await gauges();
      return g.waiting === 0 && g.running === 1;
    }, 10000, 'the queued request to be dropped');
    await first.body.cancel();
    await eventually(async () => {
      const g = await gauges();
      return g.used === 0 && g.waiting === 0 && g.running === 0;
    }, 10000, 'the queue to drain');
    const ok = await postJson(url, { ...long, stream: false, max_tokens: 2 }, auth);
    assert.equal(ok.status, 200);
  } finally {
    await small.stop();
  }
});
