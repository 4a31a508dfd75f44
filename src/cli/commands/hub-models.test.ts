/**
 * Models by name through the CLI against the local mock Hub: `fgclip download` fills the HF cache, then
 * `--model org/name` works with HF_HUB_OFFLINE=1 and gives the same embeddings as the local folder (identical
 * floats); a repo holding only pytorch_model.bin gives the same outputs as the safetensors one (rel L2 ≤ 1e-6);
 * unknown repos and offline-without-cache fail with one clear line and a non-zero exit.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startMockHub } from '../../hub/mock-hub.js';
import { run } from '../../test-util/cli.js';
import { goldenPath, relL2 } from '../../test-util/goldens.js';

describe('fgclip with Hub model ids (mock Hub on loopback)', () => {
  let hub: Awaited<ReturnType<typeof startMockHub>>;
  const tmp = mkdtempSync(join(tmpdir(), 'fgclip-cli-hub-'));
  const env = (extra: Record<string, string> = {}) => ({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(tmp, 'hub'), FGCLIP_CACHE: join(tmp, 'fgclip'), ...extra });
  before(async () => {
    hub = await startMockHub({
      repos: [
        { id: 'qihoo360/fgclip-tiny', dir: goldenPath('fgclip-tiny') },
        { id: 'qihoo360/fgclip-tiny-pt', dir: goldenPath('fgclip-tiny-pt') },
      ],
    });
  });
  after(async () => {
    await hub.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const embed = async (model: string, e: Record<string, string>) => {
    const r = await run(['embed', '--model', model, '--text', 'a photo of a cat', '--text', 'white cat', '--raw', '--json', '--quiet'], e);
    assert.equal(r.code, 0, r.err);
    return (JSON.parse(r.out) as { embeddings: number[][] }).embeddings;
  };

  test('download, then --model REPO offline: same embeddings as the local folder, no request made', async () => {
    const d = await run(['download', 'qihoo360/fgclip-tiny', '--quiet'], env());
    assert.equal(d.code, 0, d.err);
    assert.match(d.out, /models--qihoo360--fgclip-tiny[/\\]snapshots[/\\]/);
    const before = hub.requests.length;
    const fromHub = await embed('qihoo360/fgclip-tiny', env({ HF_HUB_OFFLINE: '1' }));
    assert.equal(hub.requests.length, before, 'offline load must not contact the Hub');
    const local = await embed(goldenPath('fgclip-tiny'), env());
    assert.deepEqual(fromHub, local);
  });

  test('a repo with only pytorch_model.bin loads (restricted unpickler) and equals the safetensors model', async () => {
    const pt = await embed('qihoo360/fgclip-tiny-pt', env());
    const st = await embed(goldenPath('fgclip-tiny'), env());
    pt.forEach((v, i) => assert.ok(relL2(v, st[i]) <= 1e-6, `text ${i}: ${relL2(v, st[i])}`));
  });

  test('unknown repo: MODEL_NOT_FOUND; offline without a cache: OFFLINE naming fgclip download; both exit 1', async () => {
    const r = await run(['embed', '--model', 'qihoo360/no-such-model', '--text', 'a', '--json', '--quiet'], env());
    assert.equal(r.code, 1);
    assert.match(r.err, /^fgclip: error \[MODEL_NOT_FOUND\]/);
    assert.equal(r.err.trim().split('\n').length, 1);
    const o = await run(['embed', '--model', 'qihoo360/other', '--text', 'a', '--json', '--quiet'], env({ HF_HUB_OFFLINE: '1' }));
    assert.equal(o.code, 1);
    assert.match(o.err, /\[OFFLINE\].*fgclip download/);
  });
});
