// 16 streaming requests at once (--parallel 16): all complete, and each one's text equals the
// greedy result of the same request sent alone, so batching never changes a request's output.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { MODEL, eventually, metric, postJson, readSse, startServer, watchdog } from './harness.mjs';

watchdog(150);
let server;

const prompts = Array.from({ length: 16 }, (_, i) => [
  'def add(a, b):', 'import numpy as np\n', 'class Node:\n', 'for i in range(10):\n',
  'def parse(path):\n', '# sort a list\n', 'import os\nimport sys\n', 'while True:\n',
  'def __init__(self, x):\n', 'try:\n', 'return [x for x', 'with open(', 'def test_',
  'if __name__ == "__main__":\n', 'lambda x:', 'print(',
][i]);

const body = (prompt, stream) => ({ model: MODEL, prompt, max_tokens: 32, temperature: 0,
  stream });

before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

test('16 concurrent streams equal their solo greedy results', async () => {
  const solo = [];
  for (const p of prompts) {
    const r = await postJson(`${server.url}/v1/completions`, body(p, false));
    assert.equal(r.status, 200);
    solo.push((await r.json()).choices[0].text);
  }

  let maxRunning = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      maxRunning = Math.max(maxRunning, await metric(server.url, 'dsx_requests_running'));
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const results = await Promise.all(prompts.map(async (p) => {
    const r = await postJson(`${server.url}/v1/completions`, body(p, true));
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    const events = await readSse(r);
    assert.equal(events.at(-1), '[DONE]');
    return events.slice(0, -1).map((e) => e.choices[0].text).join('');
  }));
  polling = false;
  await poller;

  for (let i = 0; i < prompts.length; i++) {
    assert.equal(results[i], solo[i], `prompt ${i} (${JSON.stringify(prompts[i])})`);
  }
  // The point of the test is a shared batch; make sure there was one.
  assert.ok(maxRunning >= 2, `at most ${maxRunning} request(s) ran at once`);
  await eventually(async () => (await metric(server.url, 'dsx_kv_cache_blocks_used')) === 0,
    10000, 'finished requests to free their cache');
});
