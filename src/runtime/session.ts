/**
 * ONNX Runtime session lifecycle. The graph comes from graph/*.ts as a protobuf plus one external weight buffer.
 * CPU is the default provider; WebGPU is accepted as an option and fails with a clear message where the machine
 * has no adapter (engine-notes.md).
 */
import * as ort from 'onnxruntime-node';
import { FgClipError } from '../errors.js';
import { EXTERNAL_DATA_NAME, type BuiltModel } from '../graph/onnx-builder.js';
import { availableParallelism } from 'node:os';
import { assertCommandLineFits } from './command-line.js';

import type { RuntimeOptions } from '../platform/ports.js';

export type { ExecutionProvider, RuntimeOptions } from '../platform/ports.js';

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

export function sessionOptions(opts: RuntimeOptions): ort.InferenceSession.SessionOptions {
  assertCommandLineFits(); // a long command line would crash onnxruntime-node's initialisation (command-line.ts)
  const threads = opts.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new FgClipError('INPUT_INVALID', `threads: expected a positive integer (got ${threads})`);
  const ep = opts.executionProvider ?? 'cpu';
  if (ep !== 'cpu' && ep !== 'webgpu') throw new FgClipError('INPUT_INVALID', `executionProvider: expected cpu or webgpu (got ${JSON.stringify(ep)})`);
  return {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // Without the pre-planned memory pattern, intermediates come from the arena as needed: fg-clip-base's peak RSS
    // drops from ~900 to ~810 MiB at batch 8 with no measurable change in speed (BENCHMARKS.md).
    enableMemPattern: false,
    // session config key session.intra_op.allow_spinning (onnxruntime_session_options_config_keys.h)
    ...(opts.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  };
}

export async function createSession(name: string, built: BuiltModel, opts: RuntimeOptions): Promise<ort.InferenceSession> {
  if (!built.weights) throw new FgClipError('RUNTIME', `${name}: the graph's weights were written to a file; load it with createSessionFromFile`);
  const so = sessionOptions(opts);
  try {
    return await ort.InferenceSession.create(built.model, { ...so, externalData: [{ path: EXTERNAL_DATA_NAME, data: built.weights }] });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const hint = opts.executionProvider === 'webgpu' ? ' WebGPU needs a GPU adapter; use the default cpu provider on machines without one.' : '';
    throw new FgClipError('RUNTIME', `${name}: ONNX Runtime could not create the session: ${msg}.${hint}`, { cause: e });
  }
}

/** A session from a model file on disk; its external weights file is read from the same folder. */
export async function createSessionFromFile(name: string, path: string, opts: RuntimeOptions): Promise<ort.InferenceSession> {
  const so = sessionOptions(opts);
  try {
    return await ort.InferenceSession.create(path, so);
  } catch (e) {
    const hint =
      opts.executionProvider === 'webgpu'
        ? ' WebGPU needs a GPU adapter; use the default cpu provider on machines without one.'
        : ' Delete that folder to rebuild it.';
    throw new FgClipError('RUNTIME', `${name}: ONNX Runtime could not load the cached graph ${path}: ${e instanceof Error ? e.message : String(e)}.${hint}`, {
      cause: e,
    });
  }
}

export async function runSession(name: string, session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  try {
    return await session.run(feeds);
  } catch (e) {
    throw new FgClipError('RUNTIME', `${name}: inference failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

export { ort };
