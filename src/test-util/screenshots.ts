import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './goldens.js';

/**
 * Where a browser test saves its screenshot. The README's pictures in docs/ are tracked files, so a test run writes
 * them only when asked (`FGCLIP_UPDATE_SCREENSHOTS=1 node scripts/run-tests.mjs src/server/web.e2e.test.ts …`);
 * otherwise the screenshot goes to the temp folder and running the tests leaves the work tree clean.
 */
export function screenshotPath(name: string): string {
  const dir = process.env.FGCLIP_UPDATE_SCREENSHOTS === '1' ? join(REPO_ROOT, 'docs') : join(tmpdir(), 'fgclip-screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
