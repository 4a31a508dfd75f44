/**
 * Optional API keys: `Authorization: Bearer KEY`. Keys are compared as SHA-256 digests with `timingSafeEqual`,
 * against every configured key without stopping early, so timing reveals neither a key's prefix nor its length
 * nor which key matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = [...new Set(keys)].map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Whether the Authorization header carries a configured key (always true when no keys are configured). */
  check(authorization: string | undefined): boolean {
    if (!this.enabled) return true;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    const given = digest(m ? m[1] : '');
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, given) || ok;
    return ok && m !== null;
  }
}

/** Keys from `--api-key` options plus the comma-separated FGCLIP_API_KEYS variable (blank entries dropped). */
export function apiKeysFrom(options: readonly string[], env: string | undefined): string[] {
  return [...options, ...(env ?? '').split(',')].map((k) => k.trim()).filter((k) => k.length > 0);
}
