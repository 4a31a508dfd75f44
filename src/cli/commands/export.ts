/**
 * `fgclip export --model M --out DIR [--dtype fp32|fp16|int8]`: the vision and text towers as standard ONNX files
 * with external weights plus a manifest (src/export/manifest.ts), for onnxruntime-web/-node/Python and for the
 * browser build, which loads such a folder directly.
 */
import { exportModel } from '../../export/export.js';
import { progressBar } from '../../hub/index.js';
import { flag, parse, printJson, requireModel, str, UsageError, type Io } from '../args.js';

export async function exportCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('export', argv, {
    model: { type: 'string', short: 'm' },
    revision: { type: 'string' },
    out: { type: 'string', short: 'o' },
    dtype: { type: 'string' },
    force: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (positionals.length > 0) throw new UsageError(`export: unexpected argument ${JSON.stringify(positionals[0])} (use --model M --out DIR)`);
  const model = requireModel(values, 'export');
  const out = str(values, 'out');
  if (!out) throw new UsageError('export: --out DIR is required (the folder to write)');
  const dtype = str(values, 'dtype') ?? 'fp32';
  if (dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'int8') throw new UsageError(`--dtype: expected fp32, fp16 or int8 (got ${JSON.stringify(dtype)})`);
  const quiet = flag(values, 'quiet');
  const { dir, manifest } = await exportModel(model, out, {
    dtype,
    revision: str(values, 'revision'),
    force: flag(values, 'force'),
    hub: { onProgress: quiet ? undefined : progressBar(io.stderr as NodeJS.WriteStream), env: io.env },
    onWarning: quiet ? undefined : (m) => io.stderr.write(`fgclip: warning: ${m}\n`),
  });
  const bytes = Object.values(manifest.files).reduce((n, f) => n + f.size, 0);
  if (flag(values, 'json')) printJson(io, { dir, dtype, bytes, files: manifest.files, graphs: manifest.graphs });
  else io.stdout.write(`${dir}: ${Object.keys(manifest.files).length + 1} files, ${(bytes / 2 ** 20).toFixed(1)} MiB (${dtype})\n`);
  return 0;
}
