/**
 * Server-side request forgery guard for remote images: which IP addresses are "private" (not public unicast), and
 * a fetch that resolves the host first, checks every address, then connects to a checked address only (the
 * socket's lookup is pinned, so a second DNS answer cannot rebind it to an internal host).
 * Address ranges: IANA IPv4/IPv6 special-purpose registries (RFC 6890 and updates). IPv6 forms that embed an IPv4
 * address (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by the
 * embedded IPv4 address as well.
 */
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';

type Cidr = readonly [bigint, number]; // [network, prefix length]

function v4(s: string): bigint {
  return s.split('.').reduce((a, p) => (a << 8n) | BigInt(Number(p)), 0n);
}

const V4_BLOCKED: readonly Cidr[] = (
  [
    ['0.0.0.0', 8], // "this network"
    ['10.0.0.0', 8], // private
    ['100.64.0.0', 10], // carrier-grade NAT
    ['127.0.0.0', 8], // loopback
    ['169.254.0.0', 16], // link-local (cloud metadata lives here)
    ['172.16.0.0', 12], // private
    ['192.0.0.0', 24], // IETF protocol assignments
    ['192.0.2.0', 24], // documentation
    ['192.88.99.0', 24], // 6to4 relay anycast
    ['192.168.0.0', 16], // private
    ['198.18.0.0', 15], // benchmarking
    ['198.51.100.0', 24], // documentation
    ['203.0.113.0', 24], // documentation
    ['224.0.0.0', 4], // multicast
    ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
  ] as const
).map(([a, p]) => [v4(a), p] as const);

/** Parses an IPv6 literal (with optional embedded IPv4 tail) to a 128-bit integer. */
function v6(s: string): bigint {
  let text = s.split('%')[0]; // zone id
  let tail: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = v4(text.slice(lastColon + 1));
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const r = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - r.length).fill('0'), ...r];
  let x = groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
  if (tail !== undefined) x = (x & ~0xffffffffn) | tail;
  return x;
}

const V6_BLOCKED: readonly Cidr[] = (
  [
    ['::', 128], // unspecified
    ['::1', 128], // loopback
    ['100::', 64], // discard-only
    ['2001::', 23], // IETF protocol assignments (Teredo 2001::/32 included)
    ['2001:db8::', 32], // documentation
    ['fc00::', 7], // unique local
    ['fe80::', 10], // link-local
    ['fec0::', 10], // site-local (deprecated)
    ['ff00::', 8], // multicast
  ] as const
).map(([a, p]) => [v6(a), p] as const);

function inCidr(x: bigint, [net, prefix]: Cidr, bits: number): boolean {
  const shift = BigInt(bits - prefix);
  return x >> shift === net >> shift;
}

/** Whether `ip` (an IPv4 or IPv6 literal) is anything but public unicast. Non-IP strings count as private. */
export function isPrivateAddress(ip: string): boolean {
  const family = isIP(ip.split('%')[0]);
  if (family === 4) {
    const x = v4(ip);
    return V4_BLOCKED.some((c) => inCidr(x, c, 32));
  }
  if (family !== 6) return true;
  const x = v6(ip);
  if (V6_BLOCKED.some((c) => inCidr(x, c, 128))) return true;
  const low32 = x & 0xffffffffn;
  const embedded =
    x >> 32n === 0xffffn || // ::ffff:a.b.c.d (IPv4-mapped)
    x >> 32n === 0n || // ::a.b.c.d (IPv4-compatible, deprecated)
    x >> 32n === v6('64:ff9b::') >> 32n // NAT64 well-known prefix
      ? low32
      : x >> 112n === 0x2002n // 6to4: 2002:AABB:CCDD::/48
        ? (x >> 80n) & 0xffffffffn
        : undefined;
  return embedded !== undefined && V4_BLOCKED.some((c) => inCidr(embedded, c, 32));
}

export class RemoteFetchError extends Error {
  override readonly name = 'RemoteFetchError';
  constructor(
    readonly kind: 'forbidden' | 'too_large' | 'failed',
    message: string,
  ) {
    super(message);
  }
}

export interface FetchPolicy {
  readonly allowPrivate: boolean;
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

/** Resolves `host` and returns its addresses, refusing when any of them is private (unless allowed). */
export async function checkedAddresses(host: string, allowPrivate: boolean): Promise<{ address: string; family: number }[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  let addrs: { address: string; family: number }[];
  try {
    addrs = isIP(bare) ? [{ address: bare, family: isIP(bare) }] : await lookup(bare, { all: true, verbatim: true });
  } catch (e) {
    throw new RemoteFetchError('failed', `cannot resolve host ${JSON.stringify(bare)} (${(e as NodeJS.ErrnoException).code ?? 'DNS error'})`);
  }
  if (addrs.length === 0) throw new RemoteFetchError('failed', `host ${JSON.stringify(bare)} has no addresses`);
  if (!allowPrivate) {
    const bad = addrs.filter((a) => isPrivateAddress(a.address));
    if (bad.length > 0) {
      throw new RemoteFetchError('forbidden', `host ${JSON.stringify(bare)} resolves to a private, loopback or link-local address (${bad.map((a) => a.address).join(', ')}); the server does not fetch those (--allow-private-images)`);
    }
  }
  return addrs;
}

/**
 * GET `url` (http or https) with the checks above, a size limit (Content-Length and streamed bytes) and an overall
 * timeout. Redirects are not followed (each hop would need the same checks; give the final URL).
 */
export async function fetchRemote(url: URL, policy: FetchPolicy, signal?: AbortSignal): Promise<Buffer> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RemoteFetchError('forbidden', `only http and https URLs are fetched (got ${url.protocol})`);
  if (url.username || url.password) throw new RemoteFetchError('forbidden', 'URLs with credentials are not fetched');
  const [pinned] = await checkedAddresses(url.hostname, policy.allowPrivate);
  const pin: LookupFunction = (_host, opts, cb) => {
    if (typeof opts === 'object' && opts && (opts as { all?: boolean }).all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [pinned]);
    else cb(null, pinned.address, pinned.family);
  };
  const timeout = AbortSignal.timeout(policy.timeoutMs);
  const all = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<Buffer>((resolve, reject) => {
    const fail = (e: Error) => {
      req.destroy();
      reject(e);
    };
    const req = mod.get(url, { lookup: pin, signal: all, headers: { accept: 'image/*', 'user-agent': 'fgclip-server' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) return fail(new RemoteFetchError('failed', `the URL answered with a redirect (${status}) that is not followed; give the final image URL`));
      if (status !== 200) return fail(new RemoteFetchError('failed', `the URL answered HTTP ${status}`));
      const declared = Number(res.headers['content-length']);
      if (declared > policy.maxBytes) return fail(new RemoteFetchError('too_large', `the remote image is ${declared} bytes (at most ${policy.maxBytes})`));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > policy.maxBytes) fail(new RemoteFetchError('too_large', `the remote image is over ${policy.maxBytes} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => size <= policy.maxBytes && resolve(Buffer.concat(chunks, size)));
      res.on('error', (e) => fail(new RemoteFetchError('failed', e.message)));
    });
    req.on('error', (e) => {
      if (timeout.aborted && !signal?.aborted) reject(new RemoteFetchError('failed', `no complete answer within ${policy.timeoutMs} ms`));
      else if (signal?.aborted) reject(signal.reason);
      else reject(e instanceof RemoteFetchError ? e : new RemoteFetchError('failed', (e as NodeJS.ErrnoException).code ?? e.message));
    });
  });
}
