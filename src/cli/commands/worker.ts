/**
 * `fgclip worker --queue redis://HOST:PORT --model M`: embeds images queued by `fgclip index --queue` until
 * SIGINT/SIGTERM (then finishes its jobs in flight). Run any number, on any machine that sees the indexed paths.
 */
import { runWorker } from '../../collection/queue.js';
import { flag, int, MODEL_OPTIONS, parse, str, UsageError, withModel, type Io } from '../args.js';

export async function workerCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('worker', argv, {
    ...MODEL_OPTIONS,
    queue: { type: 'string' },
    'queue-name': { type: 'string' },
    concurrency: { type: 'string' },
    'lock-ms': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(`worker: unexpected argument ${JSON.stringify(positionals[0])}`);
  const url = str(values, 'queue');
  if (!url) throw new UsageError('worker: --queue redis://HOST:PORT is required');
  const quiet = flag(values, 'quiet');
  return withModel(values, 'worker', io, async (m) => {
    const w = await runWorker(m, url, {
      name: str(values, 'queue-name'),
      concurrency: int(values, 'concurrency'),
      lockMs: int(values, 'lock-ms'),
      onError: (msg) => io.stderr.write(`fgclip: worker: ${msg}\n`),
      onEmbedded: quiet || !io.stderr.isTTY ? undefined : (n) => io.stderr.write(`\rfgclip: worker: ${n} image(s) embedded`),
    });
    if (!quiet) io.stderr.write(`fgclip: worker ready on ${url} (queue ${str(values, 'queue-name') ?? 'fgclip'}); Ctrl-C to stop\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await w.close();
    return 0;
  });
}
