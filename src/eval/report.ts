/** Output helpers for the evaluation commands: aligned text tables and a progress line for terminals. */

/** Rows of cells → text with columns padded to their widest cell (first column left-aligned, the rest right). */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') + '\n';
}

export function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/**
 * A progress callback writing "label N/total" over itself on `stream` when it is a terminal (no output otherwise,
 * so logs and pipes stay clean). Call `done()` to end the line.
 */
export function progressLine(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  label: string,
): { update: (done: number, total: number) => void; done: () => void } {
  if (!stream.isTTY) return { update: () => undefined, done: () => undefined };
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (done < total && now - last < 100) return;
      last = now;
      shown = true;
      stream.write(`\r${label} ${done}/${total}`);
    },
    done() {
      if (shown) stream.write('\n');
      shown = false;
    },
  };
}
