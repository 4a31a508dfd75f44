/**
 * The Hub's naming rules for repo ids and revisions, shared by the Node client (settings.ts, snapshot.ts) and the
 * browser build (platform/browser/index.ts), so both accept and refuse the same `org/name@revision`. Platform-free.
 */
import { FgClipError } from '../errors.js';

export const DEFAULT_REVISION = 'main';
export const DEFAULT_ENDPOINT = 'https://huggingface.co';
/** huggingface_hub REGEX_COMMIT_HASH: only a full hash names a snapshot directly. */
export const COMMIT_HASH_RE = /^[0-9a-f]{40}$/;

/** huggingface_hub validate_repo_id: `[\w\-.]+` optionally prefixed by `namespace/`, no "--" or "..", at most 96 chars. */
const REPO_ID_RE = /^(?:[\w\-.]+\/)?[\w\-.]+$/;

export function isValidRepoId(id: string): boolean {
  return (
    id.length > 0 &&
    id.length <= 96 &&
    REPO_ID_RE.test(id) &&
    !id.includes('--') &&
    !id.includes('..') &&
    !/^[.-]|[.-]$/.test(id) &&
    !id.includes('/.') &&
    !id.endsWith('.git')
  );
}

/** Splits `org/name@revision` (the revision may contain "/", e.g. `refs/pr/1`). */
export function parseModelRef(s: string): { repo: string; revision?: string } {
  const at = s.indexOf('@');
  if (at < 0) return { repo: s };
  return { repo: s.slice(0, at), revision: s.slice(at + 1) };
}

/** A revision the client accepts: a branch, tag or commit hash; not empty, no "..". Throws INPUT_INVALID. */
export function assertRevision(revision: string): void {
  if (revision.trim() === '' || revision.includes('..')) {
    throw new FgClipError('INPUT_INVALID', `hub: invalid revision (expected a branch, tag or commit hash, got ${JSON.stringify(revision)}).`);
  }
}

/** The revision of `org/name@rev` and of the `revision` option: one of them, or both the same. Throws INPUT_INVALID. */
export function oneRevision(model: string, fromRef: string | undefined, fromOption: string | undefined): string | undefined {
  if (fromRef !== undefined && fromOption !== undefined && fromRef !== fromOption) {
    throw new FgClipError(
      'INPUT_INVALID',
      `model ${JSON.stringify(model)}: two revisions given (expected one, got @${fromRef} and revision ${fromOption}). Keep one.`,
    );
  }
  return fromRef ?? fromOption;
}
