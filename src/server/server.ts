/**
 * The FG-CLIP HTTP server (Node's own http module): routing, API keys, body limits, deadlines, error mapping,
 * request logs, metrics, the web page, and graceful shutdown. Endpoints are thin adapters over the model
 * (routes-*.ts); all model work goes through the dynamic batcher (engine.ts).
 *
 * Status codes: 400 invalid input (incl. IMAGE_DECODE, unknown fields, `dimensions`, too many inputs), 401 missing
 * or wrong API key, 404 unknown route or model, 405 wrong method, 413 body or image too large, 415 wrong
 * Content-Type, 503 queue full (Retry-After) or shutting down, 504 the request's deadline (`requestTimeoutMs`)
 * passed while it was queued or running (its queued items are withdrawn), 500 anything unexpected (no details).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { realpathSync } from 'node:fs';
import { FgClipError } from '../errors.js';
import type { Encoder } from '../model/encoder.js';
import { FgClip } from '../model/handle.js';
import { ApiKeys } from './auth.js';
import { PixelBudget } from './pixel-budget.js';
import { inProcess, type ServedModel } from './served-model.js';
import { BodyBudget, parseBody, readBody } from './body.js';
import type { Ctx, Handler, Limits, Reply } from './context.js';
import { DEFAULT_MAX_HOLD_MS, Engine } from './engine.js';
import { errorBody, HttpError, shuttingDown, toHttpError } from './http-error.js';
import type { ImagePolicy } from './images.js';
import { ServerMetrics } from './metrics.js';
import { embeddings } from './routes-embeddings.js';
import { analyze } from './routes-analyze.js';
import { classify, heatmap, rank, regions, rerank } from './routes-tasks.js';
import { openApiDocument } from './openapi.js';
import { collectionAdd, collectionRemove, collectionSearch, collectionStats } from './routes-collection.js';
import type { Collection } from '../collection/collection.js';
import { DEFAULT_WEB_ROOT, loadStatic, STATIC_HEADERS, STATIC_PATHS } from './static.js';

export interface ServerOptions {
  /**
   * the model: a ModelHost (model-host.ts: inference in a worker thread, the server stays responsive — what
   * `fgclip serve` uses) or a loaded FgClip handle (runs on this thread). The server does not dispose it.
   */
  readonly model: FgClip | ServedModel;
  /** decoded image pixels in flight across all requests (default 4 × 4096²); more waits its turn */
  readonly pixelBudget?: number;
  /** open connections at most; more are refused at accept (default 512) */
  readonly maxConnections?: number;
  /** request body bytes held across all requests at once; more → 503 + Retry-After (default 256 MiB) */
  readonly maxBufferedBytes?: number;
  /** the id in `model` fields and /v1/models (default: the model folder's name) */
  readonly modelName?: string;
  /** more ids the server answers to in `model` fields (e.g. the Hub id of a local folder: 'qihoo360/fg-clip-base') */
  readonly servedNames?: readonly string[];
  /**
   * origins allowed to call the API from a browser page (CORS): exact origins like 'https://app.example', or '*'
   * for any (default: none — no CORS headers, OPTIONS still answers with Allow)
   */
  readonly corsAllowOrigin?: readonly string[];
  readonly host?: string; // default 127.0.0.1
  readonly port?: number; // default 8080; 0 picks a free port
  /** Bearer keys; empty or absent: no authentication */
  readonly apiKeys?: readonly string[];
  /** dynamic batching across requests (default true) */
  readonly batching?: boolean;
  readonly maxBatchSize?: number; // default 32
  /** extra wait for companions when the model is idle (default 0: items that queue while it is busy still merge) */
  readonly maxWaitMs?: number;
  /**
   * the longest an image batch waits for images of other requests that are still decoding (default 100; also
   * bounded by the recent model-call time; 0: never). A lone request never waits.
   */
  readonly maxHoldMs?: number;
  /** items allowed to wait per lane before 503 (default 1024) */
  readonly maxQueue?: number;
  /** deadline of one request, ms (default 30000) → 504 */
  readonly requestTimeoutMs?: number;
  readonly maxBodyBytes?: number; // default 32 MiB → 413
  readonly maxInputs?: number; // texts / labels / candidates / boxes per request (default 256)
  readonly maxImages?: number; // images per request (default 16)
  /** folder that `file:` image paths are read from (default: file paths refused) */
  readonly imageRoot?: string;
  readonly allowRemoteImages?: boolean;
  readonly allowPrivateImages?: boolean;
  readonly maxImageBytes?: number; // one image file or download (default 20 MiB)
  readonly remoteTimeoutMs?: number; // default 10000
  /** time close() lets in-flight requests finish before cutting connections (default 30000) */
  readonly shutdownGraceMs?: number;
  /** seconds a 503 for a full queue asks clients to wait (default 1) */
  readonly retryAfterS?: number;
  /** request log sink, one JSON line per request; false silences it (default: stderr) */
  readonly log?: ((line: string) => void) | false;
  /** folder of the web page, false to serve no page (default: web/ of the package) */
  readonly webRoot?: string | false;
  /**
   * a collection of this model's vectors: enables the /v1/collection routes. An open Collection (the caller closes
   * it), or a function opening one with the server's encoder at `listen()` (the server closes that one)
   */
  readonly collection?: Collection | ((encoder: Encoder) => Promise<Collection>);
}

export interface FgClipServer {
  /** http://host:port once listening */
  readonly url: string;
  readonly metrics: ServerMetrics;
  readonly engine: Engine;
  /** decoded pixels in flight across requests (its peak and waits say how the budget held) */
  readonly pixels: PixelBudget;
  /** request body bytes held across requests */
  readonly bodies: BodyBudget;
  listen(): Promise<string>;
  /** Stops accepting, lets in-flight requests finish (up to shutdownGraceMs), then closes every connection. */
  close(): Promise<void>;
}

export type Route = { readonly method: 'GET' | 'POST'; readonly auth: boolean; readonly handler?: Handler };

/** Every API route (the web page's static files aside); /openapi.json describes exactly these (openapi.test.ts). */
export const API_ROUTES: Readonly<Record<string, Route>> = {
  '/health': { method: 'GET', auth: false },
  '/openapi.json': { method: 'GET', auth: false },
  '/v1/models': { method: 'GET', auth: true },
  '/metrics': { method: 'GET', auth: true },
  '/v1/embeddings': { method: 'POST', auth: true, handler: embeddings },
  '/v1/classify': { method: 'POST', auth: true, handler: classify },
  '/v1/heatmap': { method: 'POST', auth: true, handler: heatmap },
  '/v1/regions': { method: 'POST', auth: true, handler: regions },
  '/v1/rank': { method: 'POST', auth: true, handler: rank },
  '/v1/analyze': { method: 'POST', auth: true, handler: analyze },
  '/rerank': { method: 'POST', auth: true, handler: rerank },
  '/v1/rerank': { method: 'POST', auth: true, handler: rerank },
  '/v1/collection': { method: 'GET', auth: true },
  '/v1/collection/search': { method: 'POST', auth: true, handler: collectionSearch },
  '/v1/collection/add': { method: 'POST', auth: true, handler: collectionAdd },
  '/v1/collection/remove': { method: 'POST', auth: true, handler: collectionRemove },
};

const API_HEADERS = { 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' };

function positive(name: string, v: number | undefined, fallback: number, min = 1): number {
  const x = v ?? fallback;
  if (!Number.isFinite(x) || x < min) throw new FgClipError('INPUT_INVALID', `createServer: ${name} must be a number ≥ ${min} (got ${x})`);
  return x;
}

/** Rejects when `signal` aborts, else settles like `p` (whose late rejection is then swallowed). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createServer(options: ServerOptions): FgClipServer {
  const o = options;
  const model: ServedModel = o.model instanceof FgClip ? inProcess(o.model) : o.model;
  const info = model.info;
  const pixels = new PixelBudget(positive('pixelBudget', o.pixelBudget, 4 * 4096 * 4096));
  const modelName = o.modelName ?? (info.modelDir.split(/[\\/]/).filter(Boolean).pop() || 'fgclip');
  const aliases = [...new Set(o.servedNames ?? [])].filter((n) => n !== modelName);
  let collection: Collection | undefined = typeof o.collection === 'function' ? undefined : o.collection;
  const keys = new ApiKeys(o.apiKeys ?? []);
  const limits: Limits = { maxInputs: positive('maxInputs', o.maxInputs, 256), maxImages: positive('maxImages', o.maxImages, 16) };
  const maxBodyBytes = positive('maxBodyBytes', o.maxBodyBytes, 32 * 1024 * 1024);
  const requestTimeoutMs = positive('requestTimeoutMs', o.requestTimeoutMs, 30_000);
  const graceMs = positive('shutdownGraceMs', o.shutdownGraceMs, 30_000, 0);
  const retryAfterS = positive('retryAfterS', o.retryAfterS, 1);
  const bodies = new BodyBudget(positive('maxBufferedBytes', o.maxBufferedBytes, 256 * 1024 * 1024), retryAfterS);
  const images: ImagePolicy = {
    imageRoot: o.imageRoot === undefined ? undefined : realpathSync(o.imageRoot),
    allowRemote: o.allowRemoteImages ?? false,
    allowPrivate: o.allowPrivateImages ?? false,
    maxImageBytes: positive('maxImageBytes', o.maxImageBytes, 20 * 1024 * 1024),
    remoteTimeoutMs: positive('remoteTimeoutMs', o.remoteTimeoutMs, 10_000),
  };
  const log = o.log === false ? undefined : (o.log ?? ((line: string) => process.stderr.write(line + '\n')));
  const web = loadStatic(o.webRoot ?? DEFAULT_WEB_ROOT);
  const created = Math.floor(Date.now() / 1000);

  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  /** open connections: requests in progress, bytes read when the last one ended, whether shutdown owes it an answer */
  const conns = new Map<Socket, { active: number; idleBytes: number; admitted: boolean }>();
  let closing: Promise<void> | undefined;
  let draining = false;
  let url = '';

  const metrics = new ServerMetrics(
    () => engine.queueDepths(),
    () => inFlight,
  );
  const engine = new Engine(
    model,
    {
      enabled: o.batching ?? true,
      maxBatchSize: positive('maxBatchSize', o.maxBatchSize, 32),
      maxWaitMs: positive('maxWaitMs', o.maxWaitMs, 0, 0),
      maxHoldMs: positive('maxHoldMs', o.maxHoldMs, DEFAULT_MAX_HOLD_MS, 0),
      maxQueue: positive('maxQueue', o.maxQueue, 1024),
    },
    (b) => {
      metrics.batchSize.observe({ lane: b.lane }, b.size);
      metrics.batchDuration.observe({ lane: b.lane }, b.runMs / 1000);
      metrics.batchWait.observe({ lane: b.lane }, b.waitMs / 1000);
    },
    pixels,
  );

  const cors = new Set(o.corsAllowOrigin ?? []);
  for (const c of cors) {
    if (c !== '*' && !/^https?:\/\/[^/\s]+$/.test(c))
      throw new FgClipError(
        'INPUT_INVALID',
        `createServer: corsAllowOrigin entries are '*' or an origin like https://app.example (scheme://host[:port], no path); got ${JSON.stringify(c)}`,
      );
  }

  /** CORS headers for a request from an allowed origin (none otherwise: the browser then blocks the page). */
  function corsHeaders(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (cors.size === 0 || typeof origin !== 'string') return {};
    if (cors.has('*')) return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Retry-After, WWW-Authenticate' };
    if (!cors.has(origin)) return { Vary: 'Origin' };
    return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin', 'Access-Control-Expose-Headers': 'Retry-After, WWW-Authenticate' };
  }

  /** Methods a path answers (undefined: no such path). */
  function methodsOf(path: string): string[] | undefined {
    if (web.get(path)) return ['GET', 'HEAD'];
    const r = Object.hasOwn(API_ROUTES, path) ? API_ROUTES[path] : undefined;
    if (!r) return undefined;
    return r.method === 'GET' ? ['GET', 'HEAD'] : [r.method];
  }

  /** OPTIONS: 204 with Allow; a CORS preflight from an allowed origin also gets the Access-Control-Allow-* answer. */
  function preflight(req: IncomingMessage, res: ServerResponse, path: string): void {
    const methods = path === '*' ? ['GET', 'HEAD', 'POST'] : methodsOf(path);
    if (!methods) throw new HttpError(404, 'not_found_error', 'NOT_FOUND', `no route ${JSON.stringify(path.slice(0, 100))}`);
    const headers: Record<string, string> = { Allow: [...methods, 'OPTIONS'].join(', '), ...API_HEADERS, ...corsHeaders(req) };
    if ('Access-Control-Allow-Origin' in headers && req.headers['access-control-request-method']) {
      headers['Access-Control-Allow-Methods'] = [...methods, 'OPTIONS'].join(', ');
      const asked = req.headers['access-control-request-headers'];
      headers['Access-Control-Allow-Headers'] = typeof asked === 'string' && /^[\w\-, ]{1,500}$/.test(asked) ? asked : 'Authorization, Content-Type';
      headers['Access-Control-Max-Age'] = '600';
    }
    res.writeHead(204, headers);
    res.end();
  }

  function send(res: ServerResponse, status: number, body: Buffer | string, contentType: string, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, {
      'Content-Type': contentType,
      'Content-Length': String(buf.length),
      ...API_HEADERS,
      ...corsHeaders(res.req),
      ...(draining ? { Connection: 'close' } : {}),
      ...headers,
    });
    res.end(res.req.method === 'HEAD' ? undefined : buf);
  }

  function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
    send(res, status, JSON.stringify(value), 'application/json; charset=utf-8', headers);
  }

  function models() {
    const t = info.textLengths;
    const entry = (id: string) => ({
      id,
      object: 'model',
      created,
      owned_by: 'fgclip',
      family: info.family,
      dimensions: info.embeddingDim,
      image_size: info.imageSize,
      grid: [info.grid[0], info.grid[1]],
      max_tokens: { short: t.short, ...(t.long !== undefined ? { long: t.long } : {}), ...(t.box !== undefined ? { box: t.box } : {}) },
      scoring: info.scoreKind,
      ...(id !== modelName ? { alias_of: modelName } : {}),
    });
    return { object: 'list', data: [modelName, ...aliases].map(entry) };
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string, signal: AbortSignal, ctx: Ctx, admitted: boolean): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') return preflight(req, res, path);
    if (path === '/health') {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET');
      return sendJson(res, draining ? 503 : 200, {
        status: draining ? 'draining' : 'ok',
        model: modelName,
        queue: Object.fromEntries(engine.queueDepths().map((q) => [q.lane, q.depth])),
      });
    }
    if (draining && !admitted) throw shuttingDown();
    const file = web.get(path);
    if (file) {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET');
      return send(res, 200, file.body, file.contentType, { ...STATIC_HEADERS, 'Cache-Control': 'no-cache' });
    }
    const r = Object.hasOwn(API_ROUTES, path) ? API_ROUTES[path] : undefined;
    if (!r)
      throw new HttpError(
        404,
        'not_found_error',
        'NOT_FOUND',
        `no route ${JSON.stringify(path.slice(0, 100))} (routes: ${Object.keys(API_ROUTES).join(', ')}, and the web page at /)`,
      );
    if (method !== r.method && !(r.method === 'GET' && method === 'HEAD')) throw methodNotAllowed(r.method);
    if (r.auth && !keys.check(req.headers.authorization)) {
      throw new HttpError(401, 'authentication_error', 'UNAUTHORIZED', 'missing or invalid API key (send "Authorization: Bearer KEY")', null, {
        'WWW-Authenticate': 'Bearer',
      });
    }
    if (path === '/openapi.json')
      return sendJson(res, 200, openApiDocument({ modelName, aliases, url, collection: collection !== undefined || typeof o.collection === 'function' }));
    if (path === '/v1/models') return sendJson(res, 200, models());
    if (path === '/metrics') return send(res, 200, metrics.render(), 'text/plain; version=0.0.4; charset=utf-8');
    if (path === '/v1/collection') return sendJson(res, 200, await abortable(collectionStats(ctx), signal));
    const held = { bytes: 0 };
    res.once('close', () => bodies.release(held)); // the body's bytes count until the answer is done
    const body = parseBody(await abortable(readBody(req, maxBodyBytes, bodies, held), signal), req.headers['content-type']);
    const reply: Reply = await abortable((r.handler as Handler)(body, ctx), signal);
    if ('json' in reply) sendJson(res, reply.status ?? 200, reply.json);
    else send(res, reply.status ?? 200, reply.body, reply.contentType);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, admitted: boolean): Promise<void> {
    const start = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    const routeName = Object.hasOwn(API_ROUTES, path) || STATIC_PATHS.includes(path) ? path : 'unmatched';
    const ac = new AbortController();
    const timer = setTimeout(
      () =>
        ac.abort(
          new HttpError(
            504,
            'timeout_error',
            'TIMEOUT',
            `the request did not finish within ${requestTimeoutMs} ms (the server is busy or the request is large); retry later or split it`,
          ),
        ),
      requestTimeoutMs,
    );
    const ctx: Ctx = { engine, modelName, aliases, limits, images, signal: ac.signal, stats: { batches: [] }, usage: { items: 0, tokenCount: 0 }, collection };
    let errorCode: string | undefined;
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) ac.abort(new HttpError(499, 'invalid_request_error', 'CLIENT_CLOSED', 'the client closed the connection'));
      const status = res.writableFinished ? res.statusCode : 499; // 499: client went away (nginx's convention)
      const ms = performance.now() - start;
      metrics.requests.inc({ route: routeName, method: req.method ?? '', status: String(status) });
      metrics.latency.observe({ route: routeName, status: String(status) }, ms / 1000);
      log?.(
        JSON.stringify({
          time: new Date().toISOString(),
          method: req.method,
          route: routeName,
          status,
          ms: Math.round(ms * 10) / 10,
          items: ctx.usage.items,
          batches: ctx.stats.batches,
          ...(errorCode ? { error: errorCode } : {}),
        }),
      );
    });
    try {
      await route(req, res, path, ac.signal, ctx, admitted);
    } catch (e) {
      const { error, internal } = toHttpError(e, retryAfterS);
      errorCode = error.code;
      if (internal)
        log?.(
          JSON.stringify({
            time: new Date().toISOString(),
            level: 'error',
            route: routeName,
            error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
            stack: e instanceof Error ? e.stack : undefined,
          }),
        );
      sendJson(res, error.status, errorBody(error), { ...error.headers });
    }
  }

  // Node checks header/request timeouts every connectionsCheckingInterval (default 30 s): keep it well below the
  // configured deadline, or a slow client would be held for 30 s whatever --timeout-ms says
  const http: Server = createHttpServer({ connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(requestTimeoutMs / 4))) }, (req, res) => {
    inFlight++;
    const conn = conns.get(req.socket);
    // a request whose first bytes had arrived before shutdown began is served, not refused
    const admitted = draining && conn?.admitted === true;
    if (conn) {
      conn.admitted = false;
      conn.active++;
      res.once('close', () => {
        conn.active--;
        conn.idleBytes = req.socket.bytesRead;
      });
    }
    const p = handle(req, res, admitted).finally(() => {
      inFlight--;
      pending.delete(p);
    });
    pending.add(p);
  });
  // headers must arrive within the deadline (Node answers 408 and closes); a slow body is cut by the request's own
  // deadline → 504, and Node's requestTimeout is the backstop behind it
  http.headersTimeout = requestTimeoutMs;
  http.requestTimeout = requestTimeoutMs + 1000;
  http.maxConnections = positive('maxConnections', o.maxConnections, 512);
  http.on('connection', (socket: Socket) => {
    conns.set(socket, { active: 0, idleBytes: 0, admitted: false });
    socket.once('close', () => conns.delete(socket));
  });
  /** connections holding a request that arrived (some bytes read) but is not yet parsed and dispatched */
  const unparsed = () => [...conns.entries()].filter(([, c]) => c.admitted);

  function methodNotAllowed(allowed: string): HttpError {
    return new HttpError(405, 'invalid_request_error', 'METHOD_NOT_ALLOWED', `method not allowed here (use ${allowed})`, null, {
      Allow: allowed === 'GET' ? 'GET, HEAD' : allowed,
    });
  }

  /** Listens; a taken or forbidden address is a typed ADDRESS_IN_USE error (not an unexpected one). */
  function listenOn(): Promise<string> {
    const host = o.host ?? '127.0.0.1';
    const port = o.port ?? 8080;
    return new Promise<string>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        const why =
          e.code === 'EADDRINUSE'
            ? 'the port is in use by another process (choose another with --port, or 0 for any free port)'
            : e.code === 'EACCES'
              ? 'permission denied (ports below 1024 need privileges)'
              : e.code === 'EADDRNOTAVAIL'
                ? 'the address is not available on this machine'
                : undefined;
        reject(why ? new FgClipError('ADDRESS_IN_USE', `cannot listen on ${host}:${port}: ${why}`, { cause: e }) : e);
      };
      http.once('error', onError);
      http.listen(port, host, () => {
        http.off('error', onError);
        const a = http.address() as AddressInfo;
        url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
        resolve(url);
      });
    });
  }

  return {
    get url() {
      return url;
    },
    metrics,
    engine,
    pixels,
    bodies,
    listen() {
      return (async () => {
        if (typeof o.collection === 'function' && !collection) collection = await o.collection(engine);
        return await listenOn();
      })();
    },
    close() {
      closing ??= (async () => {
        draining = true;
        // requests already received complete: those in progress, and those whose bytes arrived but are not yet
        // parsed (their connection is admitted for one request; Node cuts it at headersTimeout if it stalls)
        for (const [socket, c] of conns) if (c.active === 0 && socket.bytesRead > c.idleBytes) c.admitted = true;
        const closed = new Promise<void>((r) => (http.listening ? http.close(() => r()) : r()));
        http.closeIdleConnections();
        const deadline = performance.now() + graceMs;
        const tick = () => new Promise((r) => setTimeout(r, Math.max(0, Math.min(20, deadline - performance.now()))));
        while (performance.now() < deadline && (pending.size > 0 || unparsed().length > 0)) await Promise.race([Promise.all([...pending]), tick()]);
        while (performance.now() < deadline && engine.queueDepths().some((q) => q.depth > 0)) await Promise.race([engine.idle(), tick()]);
        engine.close();
        metrics.close();
        http.closeAllConnections();
        await closed;
        if (typeof o.collection === 'function') collection?.close();
      })();
      return closing;
    },
  };
}
