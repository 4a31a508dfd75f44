/**
 * End-to-end throughput over a folder of JPEGs: decode + resize + normalize + encode, in-thread (encodeImages on
 * file paths) and with the worker pool feeding runVision, next to the preprocessing-only rates.
 */
import type { FgClip } from '../src/model/handle.js';
import { createPreprocessPool, type PreprocessPoolOptions } from '../src/pipeline/index.js';

export interface PooledRate {
  readonly workers: number;
  /** pool start-up (workers loading sharp + preprocess), not included in the rates */
  readonly startMs: number;
  /** decode + preprocess only, through the pool */
  readonly preprocessPerSec: number;
  /** pool.map(paths) → batches → runVision, preprocessing of the next batch overlapping inference */
  readonly endToEndPerSec: number;
}

export interface E2eResult {
  readonly images: number;
  /** decode + preprocess only, one after another on the main thread */
  readonly preprocessInThreadPerSec: number;
  /** model.encodeImages(paths): the library's own in-thread flow */
  readonly encodeImagesPerSec: number;
  readonly pooled: PooledRate[];
}

function poolOptions(m: FgClip, threads: number, maxInFlight: number): PreprocessPoolOptions {
  return {
    threads,
    maxInFlight,
    size: m.imageSize,
    mode: 'squash',
    mean: m.preprocessConfig.image_mean,
    std: m.preprocessConfig.image_std,
    rescaleFactor: m.preprocessConfig.rescale_factor,
  };
}

export async function measureE2e(m: FgClip, files: readonly string[], opts: { batch: number; poolWorkers: readonly number[] }): Promise<E2eResult> {
  const n = files.length;
  const perSec = (ms: number) => (n * 1000) / ms;

  let t = performance.now();
  for (const f of files) await m.preprocess(f);
  const preprocessInThread = performance.now() - t;

  t = performance.now();
  await m.encodeImages(files);
  const encodeImages = performance.now() - t;

  const pooled: PooledRate[] = [];
  for (const workers of opts.poolWorkers) pooled.push(await measurePooled(m, files, workers, opts.batch));
  return { images: n, preprocessInThreadPerSec: perSec(preprocessInThread), encodeImagesPerSec: perSec(encodeImages), pooled };
}

async function measurePooled(m: FgClip, files: readonly string[], workers: number, batchSize: number): Promise<PooledRate> {
  const perSec = (ms: number) => (files.length * 1000) / ms;
  let t = performance.now();
  const pool = await createPreprocessPool(poolOptions(m, workers, 2 * batchSize));
  const startMs = performance.now() - t;
  try {
    t = performance.now();
    for await (const r of pool.map(files)) if (!r.ok) throw r.error;
    const preprocess = performance.now() - t;

    t = performance.now();
    const per = 3 * m.imageSize * m.imageSize;
    let batch: Float32Array[] = [];
    const flush = async () => {
      const px = new Float32Array(batch.length * per);
      batch.forEach((b, i) => px.set(b, i * per));
      batch = [];
      await m.runVision(px);
    };
    for await (const r of pool.map(files)) {
      if (!r.ok) throw r.error;
      batch.push(r.pixels);
      if (batch.length === batchSize) await flush();
    }
    if (batch.length > 0) await flush();
    return { workers, startMs, preprocessPerSec: perSec(preprocess), endToEndPerSec: perSec(performance.now() - t) };
  } finally {
    await pool.close();
  }
}
