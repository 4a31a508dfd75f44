/**
 * "Loading the model" status for terminals: a first load can take seconds to minutes (download, reading and checking
 * the weights, building the graphs, ONNX Runtime's session set-up) and would otherwise be silent. On a TTY the line
 * `fgclip: loading M … 12s` is redrawn every second (paused while the Hub download bar is drawing) and cleared once the
 * model is ready; a load that took more than 2 s leaves one line saying how long it took. Nothing when stderr is not
 * a terminal (logs, pipes, CI) or with --quiet.
 */
type DownloadProgress = (p: { file: string; received: number; total?: number }) => void;

export interface LoadStatus {
  /** Wraps the Hub progress callback (the status line pauses while downloads draw). */
  readonly onDownload: (inner: DownloadProgress | undefined) => DownloadProgress | undefined;
  /** Stops the status line (call on success and on failure). */
  readonly done: (ok: boolean) => void;
}

const NONE: LoadStatus = { onDownload: (inner) => inner, done: () => undefined };

export function loadStatus(stderr: NodeJS.WritableStream & { isTTY?: boolean }, what: string, quiet: boolean): LoadStatus {
  const s = stderr;
  if (quiet || !s.isTTY) return NONE;
  const start = Date.now();
  let lastDownload = 0;
  let shown = false;
  const draw = (): void => {
    if (Date.now() - lastDownload < 1500) return;
    shown = true;
    s.write(`\r\x1b[2Kfgclip: loading ${what} … ${Math.round((Date.now() - start) / 1000)}s`);
  };
  draw();
  const timer = setInterval(draw, 1000);
  timer.unref();
  return {
    onDownload: (inner) => (p) => {
      if (shown) s.write('\r\x1b[2K');
      shown = false;
      lastDownload = Date.now();
      inner?.(p);
    },
    done(ok) {
      clearInterval(timer);
      if (shown) s.write('\r\x1b[2K');
      shown = false;
      const secs = (Date.now() - start) / 1000;
      if (ok && secs > 2) s.write(`fgclip: loaded ${what} in ${secs.toFixed(1)}s\n`);
    },
  };
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/**
 * "label done/total  elapsed  rate/s  ETA" on a TTY, redrawn on each update and every second between updates (a
 * batch of large images takes seconds: the line keeps moving); nothing when stderr is not a terminal.
 */
export function countProgress(
  stderr: NodeJS.WritableStream & { isTTY?: boolean },
  label: string,
): { update: (done: number, total: number) => void; done: () => void } {
  if (!stderr.isTTY) return { update: () => undefined, done: () => undefined };
  const start = Date.now();
  let state = { done: 0, total: 0 };
  let shown = false;
  const draw = (): void => {
    const secs = (Date.now() - start) / 1000;
    const rate = state.done / Math.max(secs, 1e-3);
    const eta = state.done > 0 && state.done < state.total ? `  ETA ${fmtSeconds((state.total - state.done) / rate)}` : '';
    stderr.write(`\r\x1b[2K${label} ${state.done}/${state.total}  ${fmtSeconds(secs)}${state.done > 0 ? `  ${rate.toFixed(1)}/s` : ''}${eta}`);
    shown = true;
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    update(done, total) {
      state = { done, total };
      draw();
      if (!timer) {
        timer = setInterval(draw, 1000);
        timer.unref();
      }
    },
    done() {
      clearInterval(timer);
      timer = undefined;
      if (shown) stderr.write('\n');
      shown = false;
    },
  };
}
