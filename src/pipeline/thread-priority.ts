/**
 * Lowers the scheduling priority of the calling thread only (not the process), so that a server's HTTP thread
 * wins the CPU over its own heavy threads (the model worker with ONNX Runtime's intra-op threads, the image
 * decode workers) when they compete for few cores. Linux: nice values are per thread, and threads created
 * afterwards by this one (ONNX Runtime's pool, created with the session) inherit it. Elsewhere a thread has no id
 * of its own that `setPriority` accepts, so this does nothing. Best effort: returns whether it applied.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

export function lowerThreadPriority(nice: number): boolean {
  if (process.platform !== 'linux' || !(nice > 0)) return false;
  try {
    // /proc/thread-self → "<pid>/task/<tid>"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, Math.min(19, Math.max(getPriority(tid), Math.round(nice))));
    return true;
  } catch {
    return false;
  }
}
