/**
 * Indexing through BullMQ on a real redis-server (started here on a free loopback port): `fgclip index --queue`
 * with `fgclip worker` child processes. Killing a worker mid-job (its job re-runs elsewhere after the lock expires),
 * killing the writer (the rerun completes), and killing Redis itself (restarted from its append-only file) lose
 * nothing: every image is stored exactly once with all its regions. A worker with another model fails the jobs with
 * a clear reason instead of storing foreign vectors; an unreachable Redis is one QUEUE_ERROR line.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { runCli, spawnCli } from '../test-util/cli-process.js';
import { writePng } from '../test-util/fixtures.js';
import { goldenPath } from '../test-util/goldens.js';
import { Collection } from './collection.js';
import { queueEmbedder } from './queue.js';
import { schemeBoxes } from './regions.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-queue-'));
const TINY = goldenPath('fgclip-tiny');
const N = 16;
const R = schemeBoxes('grid', 4).length;
const env = { FGCLIP_CACHE: join(ROOT, 'cache'), FGCLIP_TRACE_COMMITS: '1' };
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(ROOT, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

async function startRedis(port: number, dir?: string): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', ''];
  args.push(...(dir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] : ['--appendonly', 'no']));
  const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(p);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    p.stdout?.on('data', (d) => {
      out += String(d);
      if (/Ready to accept connections/.test(out)) resolve();
    });
    p.on('exit', (c) => reject(new Error(`redis-server exited ${c}: ${out}`)));
  });
  return p;
}

function worker(url: string, model = TINY, name = 'fgclip'): ChildProcess {
  const w = spawnCli(['worker', '--queue', url, '--queue-name', name, '--model', model, '--lock-ms', '1500', '--concurrency', '2', '--threads', '1'], env);
  children.push(w);
  return w;
}

function stop(c: ChildProcess, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  c.kill(sig);
  return new Promise((r) => c.on('close', () => r()));
}

/** Starts `fgclip index --queue`; resolves with its output; `onLine` sees each stderr line. */
function index(uri: string, dir: string, url: string, name: string, onLine?: (l: string, child: ChildProcess) => void) {
  const child = spawnCli(['index', dir, '--model', TINY, '--collection', uri, '--queue', url, '--queue-name', name, '--lock-ms', '1500', '--json'], env);
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => {
    err += String(d);
    for (const l of String(d).split('\n')) onLine?.(l, child);
  });
  return { child, done: new Promise<{ code: number | null; out: string; err: string }>((r) => child.on('close', (code) => r({ code, out, err }))) };
}

async function checkComplete(uri: string, n: number): Promise<void> {
  const c = await Collection.open(uri);
  try {
    const entries = await c.entries();
    assert.equal(entries.length, n);
    assert.equal(new Set(entries.map((e) => e.sha256)).size, n, 'no duplicate');
    assert.equal(await c.regionTable.countRows(), n * R, 'every region once');
  } finally {
    c.close();
  }
}

describe('fgclip index --queue with fgclip worker on redis-server', () => {
  let port: number;
  let url: string;
  const dir = join(ROOT, 'photos');
  before(async () => {
    port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    await startRedis(port);
    mkdirSync(dir);
    for (let i = 0; i < N; i++) await writePng(join(dir, `q${String(i).padStart(2, '0')}.png`), 30 + i, 24 + i, 300 + i);
  });

  test('a worker killed with jobs in hand: another worker re-runs them after the lock expires; nothing lost', async () => {
    const uri = join(ROOT, 'c-worker-kill');
    const run = index(uri, dir, url, 'wk');
    const a = worker(url, TINY, 'wk');
    const q = new Queue('wk-embed', { connection: { host: '127.0.0.1', port } });
    try {
      // kill A as soon as it holds a job
      for (let t = 0; t < 600 && (await q.getActiveCount()) === 0; t++) await new Promise((r) => setTimeout(r, 50));
      await stop(a, 'SIGKILL');
      const b = worker(url, TINY, 'wk');
      const r = await run.done;
      await stop(b);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), { added: N, updated: 0, removed: 0, unchanged: 0, total: N });
      await checkComplete(uri, N);
    } finally {
      await q.close();
    }
  });

  test('the writer (fgclip index) killed after its first commit: the rerun completes with no duplicate', async () => {
    const uri = join(ROOT, 'c-writer-kill');
    const w = worker(url, TINY, 'wr');
    const run = index(uri, dir, url, 'wr', (l, c) => {
      if (/commit upsert/.test(l)) c.kill('SIGKILL');
    });
    await run.done;
    const rerun = await index(uri, dir, url, 'wr').done;
    await stop(w);
    assert.equal(rerun.code, 0, rerun.err);
    const j = JSON.parse(rerun.out) as Record<string, number>;
    assert.equal(j.total, N);
    assert.equal(j.added + j.unchanged, N);
    await checkComplete(uri, N);
  });

  test('Redis killed mid-run and restarted from its append-only file: the run completes, nothing lost', async () => {
    const p2 = await freePort();
    const url2 = `redis://127.0.0.1:${p2}`;
    const rdir = join(ROOT, 'redis-aof');
    mkdirSync(rdir);
    let redis = await startRedis(p2, rdir);
    const uri = join(ROOT, 'c-redis-kill');
    const w = worker(url2, TINY, 'rk');
    let killed: Promise<void> | undefined;
    const run = index(uri, dir, url2, 'rk', (l) => {
      if (/commit upsert/.test(l) && !killed) {
        killed = (async () => {
          await stop(redis, 'SIGKILL');
          await new Promise((r) => setTimeout(r, 500));
          redis = await startRedis(p2, rdir);
        })();
      }
    });
    const r = await run.done;
    await killed;
    await stop(w);
    await stop(redis);
    assert.ok(killed, 'Redis was killed during the run');
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).total, N);
    await checkComplete(uri, N);
  });

  test('a result delivered again after its content was committed is acked, not written or counted twice', async () => {
    // The race behind a flaky 'added: 17' of 16: a worker killed after adding its result but before completing its
    // embed job; the job re-ran and its result arrived a second time. Replayed here deterministically.
    const { embedder, close } = await queueEmbedder(url, { name: 'dup', lockMs: 1500, pollMs: 50 });
    const writeQ = new Queue('dup-write', { connection: { host: '127.0.0.1', port } });
    const model = { name: 't', identity: 'i', preprocess: 'p', dim: 2, imageSize: 8, grid: 1 };
    const result = (sha: string, x: number) => ({
      sha256: sha,
      path: `/nowhere/${sha.slice(0, 1)}.png`,
      width: 1,
      height: 1,
      bytes: 1,
      mtime: 0,
      vectors: Buffer.from(new Float32Array([x, 1 - x]).buffer).toString('base64'),
      boxes: [],
    });
    const [a, b] = ['a'.repeat(64), 'b'.repeat(64)];
    const written: string[] = [];
    const progress: number[] = [];
    try {
      await writeQ.add('write', result(a, 0.25), { jobId: a, removeOnComplete: true });
      await embedder(model, 'none').run(
        [
          { path: '/nowhere/a.png', sha256: a },
          { path: '/nowhere/b.png', sha256: b },
        ],
        async (records) => {
          for (const r of records) written.push(r.sha256);
        },
        {
          onProgress: (d) => {
            progress.push(d);
            if (progress.length === 1) {
              // a's result was committed and acked (so its job id is free again): the replay and b's result arrive
              void writeQ
                .add('write', result(a, 0.25), { jobId: a, removeOnComplete: true })
                .then(() => writeQ.add('write', result(b, 0.5), { jobId: b, removeOnComplete: true }));
            }
          },
          onSkipped: (s) => assert.fail(`skipped ${s.image}`),
        },
      );
      assert.deepEqual(written, [a, b]);
      assert.equal(progress.at(-1), 2);
    } finally {
      await writeQ.close();
      await close();
    }
  });

  test('a worker with another model fails the jobs with a clear reason; nothing foreign is stored', async () => {
    const uri = join(ROOT, 'c-wrong-model');
    const d = join(ROOT, 'few');
    mkdirSync(d);
    for (let i = 0; i < 2; i++) await writePng(join(d, `w${i}.png`), 20, 20, 400 + i);
    const w = worker(url, goldenPath('fgclip-small'), 'wm');
    const r = await index(uri, d, url, 'wm').done;
    await stop(w);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).total, 0);
    assert.match(r.err, /worker failed: this worker runs model .*fgclip-small.*the collection holds model .*fgclip-tiny/);
  });

  test('an unreachable Redis: exit 1 and one QUEUE_ERROR line', async () => {
    const r = await runCli(['index', dir, '--model', TINY, '--collection', join(ROOT, 'c-nowhere'), '--queue', `redis://127.0.0.1:${await freePort()}`], env);
    assert.equal(r.code, 1);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.match(r.err, /^fgclip: error \[QUEUE_ERROR\]: queue redis:\/\/127\.0\.0\.1:\d+: cannot reach Redis/);
  });
});
