/**
 * Server lifecycle with real sockets and a real child process: slow clients are cut at the configured deadline
 * (headers and body; the bound asserted is a generous 10 s sanity limit against Node's 30 s default check
 * interval, exact times are in `npm run loadtest`), the connection cap holds, shutdown answers requests whose
 * bytes had arrived but were not yet parsed, and SIGTERM to `fgclip serve` completes every request it already
 * received before the process exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { catDataUri, start, TINY, type Running } from './test-helpers.js';

/** Resolves with what the server wrote and how long until it closed the socket. */
function hold(url: string, send: string): Promise<{ answer: string; ms: number }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let answer = '';
    const s: Socket = connect(Number(u.port), u.hostname, () => s.write(send));
    s.on('data', (d) => (answer += d.toString()));
    s.on('error', reject);
    s.on('close', () => resolve({ answer, ms: performance.now() - t0 }));
    setTimeout(() => s.destroy(new Error('still open after 10 s')), 10_000).unref();
  });
}

describe('deadlines', () => {
  let r: Running;
  before(async () => {
    r = await start({ requestTimeoutMs: 400 });
  });
  after(() => r.server.close());

  test('a client that never finishes its headers is cut (408) at the configured deadline, not after 30 s', async () => {
    const { answer, ms } = await hold(r.url, 'POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n');
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.ok(ms < 10_000, `closed after ${ms} ms`);
  });

  test('a client that stops in the middle of its body gets 504 TIMEOUT at the deadline', async () => {
    const { answer, ms } = await hold(
      r.url,
      'POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"input": ',
    );
    assert.match(answer, /^HTTP\/1\.1 (504|408)/);
    if (answer.startsWith('HTTP/1.1 504')) assert.match(answer, /"code":"TIMEOUT"/);
    assert.ok(ms < 10_000, `closed after ${ms} ms`);
  });
});

describe('connection cap', () => {
  let r: Running;
  // a long request deadline: an open connection that sent nothing must not be cut (408) while the test counts on it
  before(async () => {
    r = await start({ requestTimeoutMs: 20_000, maxConnections: 3 });
  });
  after(() => r.server.close());

  test('connections over --max-connections are refused at accept; the server keeps serving', async () => {
    const u = new URL(r.url);
    const open = await Promise.all(
      Array.from(
        { length: 3 },
        () =>
          new Promise<Socket>((res) => {
            const s = connect(Number(u.port), u.hostname, () => res(s));
          }),
      ),
    );
    const extra = await new Promise<string>((res) => {
      const s = connect(Number(u.port), u.hostname);
      s.on('close', () => res('closed'));
      s.on('error', () => res('closed'));
      s.on('data', () => res('answered'));
      s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    assert.equal(extra, 'closed');
    // each closed from both ends: a socket closes once the server has ended its side, which it does as it drops the
    // connection from its count (a fixed wait after destroy() raced that count on a busy machine)
    await Promise.all(
      open.map(
        (s) =>
          new Promise((res) => {
            s.once('close', res);
            s.end();
          }),
      ),
    );
    const h = await fetch(`${r.url}/health`);
    assert.equal(h.status, 200);
  });
});

describe('request bodies are bounded across requests', () => {
  test('while one slow body holds the buffer budget, another body that does not fit gets 503 BODIES_BUSY; bytes are released after the answer', async () => {
    const r = await start({ maxBufferedBytes: 300_000, maxBodyBytes: 250_000, requestTimeoutMs: 20_000 });
    try {
      const u = new URL(r.url);
      const body = JSON.stringify({ input: 'a photo of a cat', user: 'x'.repeat(200_000) });
      const head = `POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
      const socket = connect(Number(u.port), u.hostname);
      let answer = '';
      const done = new Promise<void>((res) => {
        socket.on('data', (d) => (answer += d.toString()));
        socket.on('close', () => res());
      });
      socket.write(head + body.slice(0, 150_000));
      for (let i = 0; i < 200 && r.server.bodies.used < 150_000; i++) await new Promise((res) => setTimeout(res, 10));
      assert.ok(r.server.bodies.used >= 150_000, `the slow body is counted (${r.server.bodies.used} bytes)`);
      const busy = await fetch(`${r.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(busy.status, 503);
      assert.equal(((await busy.json()) as { error: { code: string } }).error.code, 'BODIES_BUSY');
      assert.equal(busy.headers.get('retry-after'), '1');
      socket.write(body.slice(150_000));
      await done;
      assert.match(answer, /^HTTP\/1\.1 200/);
      for (let i = 0; i < 100 && r.server.bodies.used > 0; i++) await new Promise((res) => setTimeout(res, 10));
      assert.equal(r.server.bodies.used, 0, 'released after the answers');
      const ok = await fetch(`${r.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(ok.status, 200);
    } finally {
      await r.server.close();
    }
  });
});

describe('shutdown completes requests already received', () => {
  test('a request whose headers (or body) are still arriving when close() begins is answered 200, not 503; new connections are refused', async () => {
    const r = await start({ requestTimeoutMs: 20_000 });
    const u = new URL(r.url);
    const body = JSON.stringify({ input: ['a photo of a cat'] });
    const open = (first: string) =>
      new Promise<{ socket: Socket; answer: Promise<string> }>((resolve) => {
        const socket = connect(Number(u.port), u.hostname, () => {
          socket.write(first);
          resolve({
            socket,
            answer: new Promise<string>((res) => {
              let a = '';
              socket.on('data', (d) => (a += d.toString()));
              socket.on('close', () => res(a));
            }),
          });
        });
      });
    const head = `POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const partialHeaders = await open(head.slice(0, 20));
    const partialBody = await open(head + body.slice(0, 5));
    // the server has read those bytes (nothing is parsed yet for the first, the second's body is incomplete): they
    // are on its sockets at once (loopback), but after a stall of this process a timer fires before the poll phase
    // that reads them, so the wait ends with two event-loop turns (setImmediate runs after a poll phase): the first
    // accepts a connection still pending, the second reads what it holds
    await new Promise((res) => setTimeout(res, 200));
    for (let turn = 0; turn < 2; turn++) await new Promise((res) => setImmediate(res));
    const closing = r.server.close();
    await new Promise((res) => setTimeout(res, 100));
    partialHeaders.socket.write(head.slice(20) + body);
    partialBody.socket.write(body.slice(5));
    const [a1, a2] = await Promise.all([partialHeaders.answer, partialBody.answer]);
    await closing;
    for (const a of [a1, a2]) {
      assert.match(a, /^HTTP\/1\.1 200/, a.slice(0, 200));
      assert.match(a, /"object":"list"/);
    }
    await assert.rejects(fetch(`${r.url}/health`), 'the listening socket is closed');
  });
});

describe('SIGTERM to a real `fgclip serve` process', () => {
  test('every request received before SIGTERM is answered 200, then the process exits 0', async () => {
    const mainTs = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
    const script = `import(${JSON.stringify(mainTs)}).then((m) => m.main(process.argv.slice(1))).then((c) => { process.exitCode = c; });`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '-e', script, 'serve', '--model', TINY, '--port', '0', '--image-size', '160', '--max-wait-ms', '0'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d) => {
        err += d.toString();
        const m = /on (http:\/\/[^ ]+) /.exec(err);
        if (m) resolve(m[1]);
      });
      child.on('exit', (c) => reject(new Error(`serve exited ${c}: ${err}`)));
    });
    const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const img = catDataUri();
    const body = (n: number) => JSON.stringify({ modality: 'image', input: Array.from({ length: n }, () => img) });
    const requests = [16, 1, 1, 1, 8].map((n) =>
      fetch(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(n) }).then(async (res) => ({
        status: res.status,
        n: ((await res.json()) as { data?: unknown[] }).data?.length,
      })),
    );
    // the server has received them once its request log or queue shows work; /health reports the queue
    for (let i = 0; i < 200; i++) {
      const h = (await (await fetch(`${url}/health`)).json()) as { queue: Record<string, number> };
      if (Object.values(h.queue).some((d) => d > 0)) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    child.kill('SIGTERM');
    const answers = await Promise.all(requests);
    assert.deepEqual(
      answers,
      [16, 1, 1, 1, 8].map((n) => ({ status: 200, n })),
    );
    assert.equal(await exited, 0, err);
    assert.match(err, /SIGTERM: finishing in-flight requests/);
  });
});
