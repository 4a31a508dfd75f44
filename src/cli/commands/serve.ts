/**
 * `fgclip serve`: loads the model once and serves the HTTP API and web page (src/server) until SIGINT/SIGTERM,
 * then shuts down gracefully: stops accepting, finishes in-flight requests, closes, disposes the model.
 */
import { isRepoId } from '../../hub/index.js';
import { apiKeysFrom } from '../../server/auth.js';
import { ModelHost } from '../../server/model-host.js';
import { createServer, type FgClipServer } from '../../server/server.js';
import type { Encoder } from '../../model/encoder.js';
import { openCollectionFor } from '../../collection/search.js';
import { storageOptions, STORAGE_OPTIONS } from './collection.js';
import { flag, int, loadOptions, MODEL_OPTIONS, parse, requireModel, str, strs, UsageError, type Io } from '../args.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export async function serveCommand(argv: readonly string[], io: Io, signals: NodeJS.EventEmitter = process): Promise<number> {
  const { values, positionals } = parse('serve', argv, {
    ...MODEL_OPTIONS,
    host: { type: 'string' },
    port: { type: 'string', short: 'p' },
    'model-name': { type: 'string' },
    'served-name': { type: 'string', multiple: true },
    'pixel-budget': { type: 'string' },
    'max-connections': { type: 'string' },
    'max-buffered-bytes': { type: 'string' },
    'cors-allow-origin': { type: 'string', multiple: true },
    'api-key': { type: 'string', multiple: true },
    'no-batching': { type: 'boolean' },
    'max-batch-size': { type: 'string' },
    'max-wait-ms': { type: 'string' },
    'max-hold-ms': { type: 'string' },
    'max-queue': { type: 'string' },
    'timeout-ms': { type: 'string' },
    'max-body-bytes': { type: 'string' },
    'max-inputs': { type: 'string' },
    'max-images': { type: 'string' },
    'image-root': { type: 'string' },
    'allow-remote-images': { type: 'boolean' },
    'allow-private-images': { type: 'boolean' },
    'max-image-bytes': { type: 'string' },
    'remote-timeout-ms': { type: 'string' },
    ...STORAGE_OPTIONS,
  });
  if (positionals.length > 0) throw new UsageError(`serve: unexpected argument ${JSON.stringify(positionals[0])}`);
  if (flag(values, 'allow-private-images') && !flag(values, 'allow-remote-images'))
    throw new UsageError('serve: --allow-private-images needs --allow-remote-images');
  const host = str(values, 'host') ?? '127.0.0.1';
  const port = int(values, 'port', 0) ?? 8080;
  if (port > 65535) throw new UsageError(`--port: expected 0..65535 (got ${port})`);
  const apiKeys = apiKeysFrom(strs(values, 'api-key'), io.env.FGCLIP_API_KEYS);
  const quiet = flag(values, 'quiet');
  const options = {
    host,
    port,
    // a Hub id names the model as users call it (the snapshot folder is a commit hash)
    modelName: str(values, 'model-name') ?? (isRepoId(str(values, 'model') ?? '') ? str(values, 'model') : undefined),
    servedNames: strs(values, 'served-name'),
    pixelBudget: int(values, 'pixel-budget'),
    maxConnections: int(values, 'max-connections'),
    maxBufferedBytes: int(values, 'max-buffered-bytes'),
    corsAllowOrigin: strs(values, 'cors-allow-origin'),
    apiKeys,
    batching: !flag(values, 'no-batching'),
    maxBatchSize: int(values, 'max-batch-size'),
    maxWaitMs: int(values, 'max-wait-ms', 0),
    maxHoldMs: int(values, 'max-hold-ms', 0),
    maxQueue: int(values, 'max-queue'),
    requestTimeoutMs: int(values, 'timeout-ms'),
    maxBodyBytes: int(values, 'max-body-bytes'),
    maxInputs: int(values, 'max-inputs'),
    maxImages: int(values, 'max-images'),
    imageRoot: str(values, 'image-root'),
    allowRemoteImages: flag(values, 'allow-remote-images'),
    allowPrivateImages: flag(values, 'allow-private-images'),
    maxImageBytes: int(values, 'max-image-bytes'),
    remoteTimeoutMs: int(values, 'remote-timeout-ms'),
    log: quiet ? (false as const) : (line: string) => io.stderr.write(line + '\n'),
  };
  // the model lives in a worker thread (ModelHost): /health and /metrics answer while it runs
  const model = await ModelHost.start(requireModel(values, 'serve'), loadOptions(values, io));
  let server: FgClipServer | undefined;
  try {
    const uri = str(values, 'collection');
    // the collection is opened with the server's encoder (query embeddings go through the same worker)
    const collection = uri
      ? (encoder: Encoder) => openCollectionFor(encoder, uri, { storageOptions: storageOptions(values, io), modelName: str(values, 'model') })
      : undefined;
    server = createServer({ model, ...options, collection });
    await server.listen();
  } catch (e) {
    await server?.close();
    await model.close();
    throw e;
  }
  if (!quiet) {
    io.stderr.write(
      `fgclip: serving ${model.info.modelDir} on ${server.url} (web page at ${server.url}/, API under /v1; batching ${options.batching ? 'on' : 'off'}; Ctrl-C to stop)\n`,
    );
    if (!LOOPBACK.has(host) && apiKeys.length === 0)
      io.stderr.write(`fgclip: warning: listening on ${host} without API keys; anyone who can reach it can use it (--api-key)\n`);
  }
  const s = server;
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      signals.off('SIGINT', onInt);
      signals.off('SIGTERM', onTerm);
      if (!quiet) io.stderr.write(`fgclip: ${sig}: finishing in-flight requests, then stopping\n`);
      void s.close().then(resolve);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    signals.on('SIGINT', onInt);
    signals.on('SIGTERM', onTerm);
  });
  await model.close();
  return 0;
}
