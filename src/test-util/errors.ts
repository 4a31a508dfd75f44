/** Asserting typed errors in tests. */
import assert from 'node:assert/strict';
import { isFgClipError, type FgClipErrorCode } from '../errors.js';

/** `p` rejects with an FgClipError of `code` whose message names `file` and matches `re`. */
export async function rejectsWith(p: Promise<unknown>, code: FgClipErrorCode, re: RegExp, file: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isFgClipError(e), `expected FgClipError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(file), `message should name ${file}: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}
