/**
 * Server-side request forgery guard for remote images: which IP addresses are "private" (not public unicast), and
 * a fetch that resolves the host first, checks every address, then connects to a checked address only (the
 * socket's lookup is pinned, so a second DNS answer cannot rebind it to an internal host).
 * Addresses are classified with ipaddr.js (see `addressProblem`).
 */
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Why `ip` is not a public unicast address, or undefined when it is. Ranges come from ipaddr.js (IANA
 * special-purpose registries); anything it does not call `unicast` is refused. IPv6 forms that carry an IPv4
 * address are judged by that address: IPv4-mapped ::ffff:a.b.c.d, SIIT ::ffff:0:a.b.c.d (RFC 6145), NAT64
 * 64:ff9b::/96 (RFC 6052), 6to4 2002:AABB:CCDD::/48 and Teredo (server and obfuscated client address). The
 * local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215; the IPv4 position depends on the operator's prefix length)
 * and deprecated IPv4-compatible ::a.b.c.d are refused outright. Strings that are not IP literals are refused.
 */
export function addressProblem(ip: string): string | undefined {
  const bare = ip.split('%')[0];
  const family = isIP(bare);
  if (family === 0) return 'not an IP address';
  // ipaddr.js reads any dotted IPv4 tail as IPv4-mapped (::8.8.8.8 → ::ffff:808:808); the WHATWG URL parser
  // gives the canonical hex form first (::808:808), which is the address a socket would connect to.
  const addr = ipaddr.parse(family === 6 ? new URL(`http://[${bare}]`).hostname.slice(1, -1) : bare);
  if (addr.kind() === 'ipv4') {
    const range = addr.range();
    return range === 'unicast' ? undefined : range;
  }
  const v6 = addr as ipaddr.IPv6;
  const range = v6.range();
  const p = v6.parts;
  const v4of = (hi: number, lo: number) => ipaddr.fromByteArray([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]) as ipaddr.IPv4;
  const embedded = (what: string, v4: ipaddr.IPv4) => {
    const r = v4.range();
    return r === 'unicast' ? undefined : `${what} embedding ${v4.toString()} (${r})`;
  };
  switch (range) {
    case 'unicast':
      // ::/96 (deprecated IPv4-compatible addresses) is not in ipaddr.js's table
      return p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0 ? 'IPv4-compatible (deprecated)' : undefined;
    case 'ipv4Mapped':
    case 'rfc6145':
      return embedded(range === 'ipv4Mapped' ? 'IPv4-mapped' : 'SIIT (RFC 6145)', v4of(p[6], p[7]));
    case 'rfc6052':
      if (p[2] !== 0 || p[3] !== 0 || p[4] !== 0 || p[5] !== 0) return 'local-use NAT64 (64:ff9b:1::/48)';
      return embedded('NAT64 (64:ff9b::/96)', v4of(p[6], p[7]));
    case '6to4':
      return embedded('6to4', v4of(p[1], p[2]));
    case 'teredo':
      return embedded('Teredo server', v4of(p[2], p[3])) ?? embedded('Teredo client', v4of(p[6] ^ 0xffff, p[7] ^ 0xffff));
    default:
      return range;
  }
}

/** Whether `ip` (an IPv4 or IPv6 literal) is anything but public unicast. Non-IP strings count as private. */
export function isPrivateAddress(ip: string): boolean {
  return addressProblem(ip) !== undefined;
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
    const bad = addrs.flatMap((a) => {
      const why = addressProblem(a.address);
      return why === undefined ? [] : [`${a.address}: ${why}`];
    });
    if (bad.length > 0) {
      throw new RemoteFetchError(
        'forbidden',
        `host ${JSON.stringify(bare)} resolves to a private, loopback or link-local address (${bad.join(', ')}); the server does not fetch those (--allow-private-images)`,
      );
    }
  }
  return addrs;
}

/**
 * GET `url` (http or https) with the checks above, a size limit (Content-Length and streamed bytes) and an overall
 * timeout. Redirects are not followed (each hop would need the same checks; give the final URL).
 */
export async function fetchRemote(url: URL, policy: FetchPolicy, signal?: AbortSignal): Promise<Buffer> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new RemoteFetchError('forbidden', `only http and https URLs are fetched (got ${url.protocol})`);
  if (url.username || url.password) throw new RemoteFetchError('forbidden', 'URLs with credentials are not fetched');
  const [pinned] = await checkedAddresses(url.hostname, policy.allowPrivate);
  const pin: LookupFunction = (_host, opts, cb) => {
    if (typeof opts === 'object' && opts && (opts as { all?: boolean }).all)
      (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [pinned]);
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
      if (status >= 300 && status < 400)
        return fail(new RemoteFetchError('failed', `the URL answered with a redirect (${status}) that is not followed; give the final image URL`));
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
