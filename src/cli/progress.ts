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
