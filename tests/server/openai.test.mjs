// The official `openai` npm client against the server: chat and completions, streaming and not,
// usage, logprobs, model listing, and the SDK's typed errors for 400 / 401 / 404.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { MODEL, requireNodeModules, startServer, watchdog } from './harness.mjs';

watchdog(150);
requireNodeModules('openai');
const { default: OpenAI } = await import('openai');

let server;
let client;
const messages = [{ role: 'system', content: 'You write Python.' },
  { role: 'user', content: 'Reverse a string.' }];

before(async () => {
  server = await startServer(['--api-key', 'test-key']);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'test-key', maxRetries: 0,
    timeout: 60000 });
});
after(async () => {
  await server.stop();
});

test('models.list and models.retrieve', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [MODEL]);
  assert.equal((await client.models.retrieve(MODEL)).id, MODEL);
});

test('chat.completions.create, non-streaming, with logprobs', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages, max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 2,
  });
  assert.equal(r.object, 'chat.completion');
  const c = r.choices[0];
  assert.equal(c.message.role, 'assistant');
  assert.ok(c.message.content.length > 0);
  assert.equal(c.logprobs.content.length, r.usage.completion_tokens);
  for (const lp of c.logprobs.content) {
    assert.ok(lp.logprob <= 0);
    assert.equal(lp.top_logprobs.length, 2);
    assert.ok(lp.top_logprobs[0].logprob >= lp.top_logprobs[1].logprob);
  }
  // Greedy: the chosen token is the most likely one.
  assert.equal(c.logprobs.content[0].token, c.logprobs.content[0].top_logprobs[0].token);
});

test('chat.completions.create, streaming with include_usage, equals non-streaming', async () => {
  const params = { model: MODEL, messages, max_completion_tokens: 24, temperature: 0, seed: 1 };
  const whole = await client.chat.completions.create(params);
  const stream = await client.chat.completions.create({
    ...params, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
  }
  assert.ok(chunks > 2);
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.deepEqual(usage, whole.usage);
});

test('completions.create: text, stream, echo, suffix, legacy logprobs', async () => {
  const prompt = 'def is_prime(n):\n';
  const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 16,
    temperature: 0, logprobs: 1 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].logprobs.tokens.length, r.usage.completion_tokens);
  if (r.choices[0].finish_reason === 'length') {
    assert.equal(r.choices[0].logprobs.tokens.join(''), r.choices[0].text);
  }
  let streamed = '';
  for await (const c of await client.completions.create({ model: MODEL, prompt, max_tokens: 16,
    temperature: 0, stream: true })) {
    streamed += c.choices[0]?.text ?? '';
  }
  assert.equal(streamed, r.choices[0].text);
  const echo = await client.completions.create({ model: MODEL, prompt, max_tokens: 4,
    temperature: 0, echo: true });
  assert.ok(echo.choices[0].text.startsWith(prompt));
  const fim = await client.completions.create({ model: MODEL, prompt: 'def area(r):\n',
    suffix: '    return a\n', max_tokens: 8, temperature: 0 });
  assert.equal(typeof fim.choices[0].text, 'string');
});

test('typed errors: 400, 404, 401', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages, max_tokens: -5 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'max_tokens');
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages, n: 3 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'n');
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o', messages }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  const wrong = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'nope', maxRetries: 0 });
  await assert.rejects(wrong.models.list(),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  // Still serving after the errors.
  const ok = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 2 });
  assert.equal(ok.object, 'chat.completion');
});
