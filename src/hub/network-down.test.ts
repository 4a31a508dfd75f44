/**
 * When the network is plainly absent the Hub client fails at once with a typed HUB_ERROR that says so, instead of
 * retrying with back-off for ~8 s (4 retries: 0.5 + 1 + 2 + 4 s): a name that does not resolve or a missing route
 * is not retried, and a model already in the cache is still used. The real case runs the CLI in a network namespace
 * holding only loopback (`unshare -n`, as root), where getaddrinfo fails (EAI_AGAIN) for any Hub name; the endpoint
 * there is an unresolvable name, so nothing leaves the machine even outside a namespace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FgClipError } from '../errors.js';
import { goldenPath, REPO_ROOT } from '../test-util/goldens.js';
import { NetworkDownError } from './http.js';
import { downloadFile, resolveModelDir } from './index.js';
import { startMockHub } from './mock-hub.js';

const scratch = mkdtempSync(join(tmpdir(), 'fgclip-netdown-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the CLI (sources through tsx) inside a loopback-only network namespace. */
function cliWithoutNetwork(args: readonly string[], env: Record<string, string>) {
  const entry = `import { main } from ${JSON.stringify(join(REPO_ROOT, 'src/cli/main.ts'))}; main(process.argv.slice(1)).then((c) => { process.exitCode = c; });`;
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', entry, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec ${node}`], { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
}

describe('Hub client without a network', () => {
  test('a DNS failure (undici "fetch failed", cause ENOTFOUND) is one attempt, not retried: HUB_ERROR naming the cause', async () => {
    let calls = 0;
    const fetchImpl = (async () => {
      calls++;
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('getaddrinfo ENOTFOUND hub.example'), { code: 'ENOTFOUND', syscall: 'getaddrinfo' }),
      });
    }) as typeof fetch;
    await assert.rejects(
      downloadFile('org/model', 'config.json', {
        endpoint: 'https://hub.example',
        cacheDir: join(scratch, 'c1'),
        env: {},
        retries: 4,
        retryDelayMs: 60_000,
        fetchImpl,
      }),
      (e: unknown) => {
        assert.ok(e instanceof FgClipError && e.code === 'HUB_ERROR', String(e));
        assert.match(e.message, /the name hub\.example does not resolve \(no network, or no DNS\).*not retried.*HF_HUB_OFFLINE=1/);
        assert.ok(e.cause instanceof NetworkDownError && e.cause.code === 'ENOTFOUND');
        return true;
      },
    );
    assert.equal(calls, 1, 'no retry (retryDelayMs 60 s would have shown as a hang)');
  });

  test('no route to the host (ENETUNREACH, EHOSTUNREACH) is not retried either', async () => {
    for (const code of ['ENETUNREACH', 'EHOSTUNREACH']) {
      let calls = 0;
      const fetchImpl = (async () => {
        calls++;
        throw new TypeError('fetch failed', { cause: Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code }) });
      }) as typeof fetch;
      await assert.rejects(
        downloadFile('org/model', 'config.json', {
          endpoint: 'https://10.0.0.1',
          cacheDir: join(scratch, code),
          env: {},
          retries: 4,
          retryDelayMs: 60_000,
          fetchImpl,
        }),
        /no route to 10\.0\.0\.1 \(no network\).*not retried/,
      );
      assert.equal(calls, 1, code);
    }
  });

  test('a refused connection is still retried (a local endpoint may be restarting)', async () => {
    let calls = 0;
    const fetchImpl = (async () => {
      calls++;
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
    }) as typeof fetch;
    await assert.rejects(
      downloadFile('org/model', 'config.json', {
        endpoint: 'http://127.0.0.1:1',
        cacheDir: join(scratch, 'c2'),
        env: {},
        retries: 2,
        retryDelayMs: 1,
        fetchImpl,
      }),
      /after 3 attempts/,
    );
    assert.equal(calls, 3);
  });

  test('CLI in a loopback-only namespace: `fgclip download` fails at once with [HUB_ERROR] "does not resolve … not retried"; a cached model still loads', async () => {
    const probe = spawnSync('unshare', ['-n', 'true']);
    assert.equal(probe.status, 0, `unshare -n needs root (CAP_SYS_ADMIN): ${probe.stderr}`);
    const cache = join(scratch, 'hf');
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: 'https://hub.fgclip-test.invalid', HF_HUB_OFFLINE: '' };
    const r = cliWithoutNetwork(['download', 'qihoo360/fg-clip-base', '--quiet'], env);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^fgclip: error \[HUB_ERROR\]: .*does not resolve \(no network, or no DNS\).*not retried/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    // the same model cached earlier (through the mock Hub on loopback, outside the namespace): used from the cache
    const hub = await startMockHub({ repos: [{ id: 'test-org/fgclip-tiny', dir: goldenPath('fgclip-tiny') }] });
    try {
      await resolveModelDir('test-org/fgclip-tiny', { endpoint: hub.url, cacheDir: cache, env: {} });
    } finally {
      await hub.close();
    }
    const cached = cliWithoutNetwork(['embed', '--model', 'test-org/fgclip-tiny', '--text', 'a photo of a cat', '--json', '--quiet'], env);
    assert.equal(cached.status, 0, cached.stderr);
    assert.equal((JSON.parse(cached.stdout) as { embeddings: number[][] }).embeddings.length, 1);
  });
});
