// The official `ollama` npm client against the server: list, show, version, generate and chat
// (streaming and not), fill-in-the-middle, and errors as the client reports them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { MODEL, eventually, metric, requireNodeModules, startServer, watchdog } from './harness.mjs';

watchdog(150);
requireNodeModules('ollama');
const { Ollama } = await import('ollama');

let server;
let ollama;

before(async () => {
  server = await startServer();
  ollama = new Ollama({ host: server.url });
});
after(async () => {
  await server.stop();
});

test('list, show, version, ps', async () => {
  const { models } = await ollama.list();
  assert.equal(models.length, 1);
  assert.equal(models[0].name, `${MODEL}:latest`);
  assert.equal(models[0].details.family, 'deepseek_v3');
  const show = await ollama.show({ model: MODEL });
  assert.ok(show.template.includes('<｜User｜>'));
  assert.equal(show.model_info['general.architecture'], 'deepseek_v3');
  assert.ok(show.capabilities.includes('insert'));
  assert.equal(typeof (await ollama.version()).version, 'string');
  assert.equal((await ollama.ps()).models[0].name, `${MODEL}:latest`);
});

test('generate: streaming equals non-streaming, with Ollama timing fields', async () => {
  const req = { model: MODEL, prompt: 'class Stack:', raw: true,
    options: { temperature: 0, num_predict: 20 } };
  const whole = await ollama.generate(req);
  assert.equal(whole.done, true);
  assert.ok(['stop', 'length'].includes(whole.done_reason));
  assert.ok(whole.eval_count >= 1 && whole.eval_count <= 20);
  assert.ok(whole.prompt_eval_count > 0);
  assert.ok(whole.total_duration > 0 && whole.eval_duration >= 0);
  let text = '';
  let last;
  for await (const part of await ollama.generate({ ...req, stream: true })) {
    text += part.response;
    last = part;
  }
  assert.equal(text, whole.response);
  assert.equal(last.done, true);
  assert.equal(last.eval_count, whole.eval_count);
});

test('generate with the chat template, a system prompt and a stop string', async () => {
  const base = { model: MODEL, prompt: 'Print hello', system: 'You write Python.',
    options: { temperature: 0, num_predict: 30 } };
  const whole = await ollama.generate(base);
  assert.ok(whole.response.length > 0);
  const stop = whole.response.slice(Math.floor(whole.response.length / 2)).slice(0, 2);
  if (stop.length === 2) {
    const cut = await ollama.generate({ ...base, options: { ...base.options, stop: [stop] } });
    assert.equal(cut.response, whole.response.slice(0, whole.response.indexOf(stop)));
    assert.equal(cut.done_reason, 'stop');
  }
});

test('fill in the middle with suffix', async () => {
  const r = await ollama.generate({ model: MODEL, prompt: 'def mean(xs):\n    ',
    suffix: '\n    return total / len(xs)\n', options: { temperature: 0, num_predict: 16 } });
  assert.equal(r.done, true);
  assert.equal(typeof r.response, 'string');
  assert.ok(r.eval_count >= 1);
});

test('chat: streaming equals non-streaming', async () => {
  const req = { model: `${MODEL}:latest`, options: { temperature: 0, num_predict: 16 },
    messages: [{ role: 'user', content: 'Write a loop.' }] };
  const whole = await ollama.chat(req);
  assert.equal(whole.message.role, 'assistant');
  let text = '';
  for await (const part of await ollama.chat({ ...req, stream: true })) {
    text += part.message.content;
  }
  assert.equal(text, whole.message.content);
});

test('errors: unknown model 404, wrong option type 400, then still serving', async () => {
  await assert.rejects(ollama.generate({ model: 'llama3', prompt: 'x' }),
    (e) => e.status_code === 404 && /not found/.test(e.error));
  await assert.rejects(ollama.generate({ model: MODEL, prompt: 'x',
    options: { temperature: 'warm' } }), (e) => e.status_code === 400);
  const r = await ollama.generate({ model: MODEL, prompt: 'x', options: { num_predict: 2 } });
  assert.equal(r.done, true);
});

test('aborting a stream frees its cache', async () => {
  const stream = await ollama.generate({ model: MODEL, prompt: 'import sys', raw: true,
    stream: true, options: { temperature: 0, num_predict: 900 } });
  let parts = 0;
  try {
    for await (const part of stream) {
      void part;
      if (++parts === 3) stream.abort();
    }
  } catch (e) {
    assert.equal(e.name, 'AbortError');
  }
  await eventually(async () => (await metric(server.url, 'dsx_kv_cache_blocks_used')) === 0 &&
    (await metric(server.url, 'dsx_requests_running')) === 0, 10000, 'the cache to be freed');
});
