/** A one-line download progress display for terminals; silent when the stream is not a TTY (logs, pipes, CI). */

type ProgressFn = (p: { file: string; received: number; total?: number }) => void;

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[u]}`;
}

/** Redraws at most every `intervalMs` (and always at the end of a file), so fast downloads do not flood the terminal. */
export function progressBar(stream: NodeJS.WriteStream, intervalMs = 100): ProgressFn {
  if (!stream.isTTY) return () => {};
  let current: { file: string; startBytes: number; startTime: number; lastDraw: number; done: boolean } | undefined;
  return ({ file, received, total }) => {
    const now = Date.now();
    if (current === undefined || current.file !== file || received < current.startBytes) {
      if (current !== undefined && !current.done) stream.write('\n');
      current = { file, startBytes: received, startTime: now, lastDraw: 0, done: false };
    }
    if (current.done) return;
    const finished = total !== undefined && received >= total;
    if (!finished && now - current.lastDraw < intervalMs) return;
    current.lastDraw = now;
    const secs = (now - current.startTime) / 1000;
    const rate = secs > 0 ? (received - current.startBytes) / secs : 0;
    const pct = total ? ` ${((100 * received) / total).toFixed(0).padStart(3)}%` : '';
    const size = total !== undefined ? `${formatBytes(received)} / ${formatBytes(total)}` : formatBytes(received);
    const width = Math.max(20, (stream.columns ?? 80) - 1);
    const line = `${file} ${size}${pct} ${formatBytes(rate)}/s`;
    stream.write(`\r\x1b[2K${line.length > width ? `…${line.slice(line.length - width + 1)}` : line}`);
    if (finished) {
      stream.write('\n');
      current.done = true;
    }
  };
}
