/** Image sources under hostile references: special files under --image-root, file URLs with hosts or encodings. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpError } from './http-error.js';
import { loadImageBytes, type ImagePolicy } from './images.js';

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'fgclip-images-')));
after(() => rmSync(tmp, { recursive: true, force: true }));
const root = join(tmp, 'root');
mkdirSync(root);
writeFileSync(join(root, 'ok.png'), Buffer.from('not really a png, bytes are returned undecoded'));
writeFileSync(join(root, 'a b.png'), Buffer.from('spaced'));
mkdirSync(join(root, 'dir.png'));
execFileSync('mkfifo', [join(root, 'pipe.png')]);
symlinkSync('/dev/zero', join(root, 'zero.png'));
symlinkSync(join(root, 'gone.png'), join(root, 'dangling.png'));
writeFileSync(join(root, 'big.png'), Buffer.alloc(2000));
const policy: ImagePolicy = { imageRoot: root, allowRemote: false, allowPrivate: false, maxImageBytes: 1000, remoteTimeoutMs: 1000 };

async function rejects400(ref: string, code: string, re: RegExp, status = 400): Promise<void> {
  await assert.rejects(loadImageBytes(ref, 'image', policy), (e: unknown) => {
    assert.ok(e instanceof HttpError, `expected HttpError, got ${String(e)}`);
    assert.equal(e.status, status, e.message);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

describe('file: images under --image-root', () => {
  test('a regular file is read; file:///abs and file://localhost/abs URLs are decoded (%20)', async () => {
    assert.equal((await loadImageBytes('file:ok.png', 'image', policy)).length, 46);
    assert.equal((await loadImageBytes(`file://${root}/a%20b.png`, 'image', policy)).toString(), 'spaced');
    assert.equal((await loadImageBytes(`file://localhost${root}/a%20b.png`, 'image', policy)).toString(), 'spaced');
  });

  test('a FIFO, /dev/zero symlink, directory and dangling symlink are 400 INPUT_INVALID without opening them', async () => {
    await rejects400('file:pipe.png', 'INPUT_INVALID', /is a FIFO \(named pipe\), not a regular file/);
    await rejects400('file:zero.png', 'IMAGE_SOURCE_FORBIDDEN', /leads outside the image root \(symlink\)/);
    await rejects400('file:dir.png', 'INPUT_INVALID', /is a directory, not a regular file/);
    await rejects400('file:dangling.png', 'INPUT_INVALID', /no file "dangling\.png"/);
  });

  test('16 concurrent FIFO references leave the libuv pool free: a file read right after completes', async () => {
    const all = Array.from({ length: 16 }, () => loadImageBytes('file:pipe.png', 'image', policy).catch((e: unknown) => e));
    const results = await Promise.all(all);
    assert.ok(results.every((e) => e instanceof HttpError && e.status === 400));
    // with blocked pool threads (default 4) this read would never finish and the test would time out
    assert.equal((await readFile(join(root, 'ok.png'))).length, 46);
  });

  test('a file over maxImageBytes is 413 before reading', async () => {
    await rejects400('file:big.png', 'IMAGE_TOO_LARGE', /2000 bytes \(at most 1000\)/, 413);
  });

  test('file://host/... is 400 INPUT_INVALID naming the host (not a 500)', async () => {
    await rejects400('file://evil.example/etc/passwd', 'INPUT_INVALID', /not a host \(got host "evil\.example"\)/);
    await rejects400('file://127.0.0.1/ok.png', 'INPUT_INVALID', /not a host/);
  });

  test('percent-encoded "/" or NUL in a file URL, and NUL in a file: path, are 400 INPUT_INVALID', async () => {
    await rejects400(`file://${root}/..%2F..%2Fetc%2Fpasswd`, 'INPUT_INVALID', /encoded '\/' and NUL are not allowed/);
    await rejects400(`file://${root}/ok%00.png`, 'INPUT_INVALID', /file URL|NUL/);
    await rejects400('file:ok\u0000.png', 'INPUT_INVALID', /cannot contain NUL/);
    await rejects400('file://%zz', 'INPUT_INVALID', /file URL|not a host|no file/);
  });

  test('encoded dot segments cannot leave the root (file:///root/%2e%2e/x)', async () => {
    await assert.rejects(
      loadImageBytes(`file://${root}/%2e%2e/%2e%2e/etc/passwd`, 'image', policy),
      (e: unknown) => e instanceof HttpError && e.status >= 400 && e.status < 500,
    );
  });
});
