import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { goldenPath } from '../../test-util/goldens.js';
import { UsageError, type Io } from '../args.js';
import { serveCommand } from './serve.js';

function io(env: NodeJS.ProcessEnv = {}): { io: Io; err: () => string; stderr: PassThrough } {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (c) => (text += c));
  return { io: { stdout: new PassThrough(), stderr, env }, err: () => text, stderr };
}

test('fgclip serve: listens, answers with the API key from FGCLIP_API_KEYS, and exits 0 after SIGTERM once drained', async () => {
  const signals = new EventEmitter();
  const { io: x, err, stderr } = io({ FGCLIP_API_KEYS: 'k1' });
  const done = serveCommand(['--model', goldenPath('fgclip-tiny'), '--port', '0', '--max-wait-ms', '1'], x, signals);
  // the URL line, however long the model takes to load (or serve's end, which fails the test with what it wrote)
  const url = await new Promise<string>((resolve, reject) => {
    const look = () => {
      const m = /serving .* on (http:\/\/127\.0\.0\.1:\d+)/.exec(err());
      if (m) resolve(m[1]);
    };
    stderr.on('data', look);
    look();
    done.then((c) => reject(new Error(`serve ended (${c}) before it listened: ${err()}`)), reject);
  });
  assert.equal((await fetch(`${url}/health`)).status, 200);
  assert.equal((await fetch(`${url}/v1/models`)).status, 401);
  assert.equal((await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer k1' } })).status, 200);
  signals.emit('SIGTERM');
  assert.equal(await done, 0);
  assert.match(err(), /SIGTERM: finishing in-flight requests/);
  assert.match(err(), /"route":"\/v1\/models","status":200/, 'request log lines on stderr');
  await assert.rejects(fetch(`${url}/health`));
});

test('fgclip serve: usage errors before loading anything', async () => {
  const { io: x } = io();
  await assert.rejects(serveCommand(['--model', 'x', '--allow-private-images'], x), UsageError);
  await assert.rejects(serveCommand(['--model', 'x', '--port', '70000'], x), /--port/);
  await assert.rejects(serveCommand(['--model', 'x', '--max-batch-size', '0'], x), /--max-batch-size/);
  await assert.rejects(serveCommand(['--model', 'x', 'extra'], x), /unexpected argument/);
  await assert.rejects(serveCommand(['--model', 'x', '--bogus'], x), UsageError);
});
