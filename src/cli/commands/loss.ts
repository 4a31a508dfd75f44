/**
 * `fgclip loss --model DIR --batch FILE [--stage 1|2] [--chunk-size N] [--json]`: the reference's training loss of
 * a checkpoint as stored on one batch (the reference collate's fields, as in fgclip-tiny.loss.json), its four parts
 * and the L2 norm of every parameter's gradient.
 */
import { readFile } from 'node:fs/promises';
import { FgClipError } from '../../errors.js';
import { progressBar, resolveModelDir } from '../../hub/index.js';
import { familyOf } from '../../families/registry.js';
import { fgclip2LossOfReferenceBatch } from '../../families/fgclip2/train-engine.js';
import { batchFromReferenceJson } from '../../train/batch.js';
import { createGradientEngine } from '../../train/engine.js';
import { flag, int, parse, printJson, str, UsageError, type Io } from '../args.js';

export async function lossCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('loss', argv, {
    model: { type: 'string', short: 'm' },
    revision: { type: 'string' },
    batch: { type: 'string' },
    stage: { type: 'string' },
    'chunk-size': { type: 'string' },
    threads: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (positionals.length) throw new UsageError(`loss: unexpected argument ${JSON.stringify(positionals[0])}`);
  const model = str(values, 'model');
  if (!model) throw new UsageError('loss: --model DIR|REPO is required');
  const batchFile = str(values, 'batch');
  if (!batchFile) throw new UsageError('loss: --batch FILE is required (a JSON object with image, text_short, text_long and, for stage 2, the box fields)');
  const stageArg = str(values, 'stage');
  if (stageArg !== undefined && stageArg !== '1' && stageArg !== '2') throw new UsageError(`--stage: expected 1 or 2 (got ${JSON.stringify(stageArg)})`);
  const chunkSize = int(values, 'chunk-size');
  const threads = int(values, 'threads');

  let text: string;
  try {
    text = await readFile(batchFile, 'utf8');
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `--batch ${batchFile}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `--batch ${batchFile}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const dir = await resolveModelDir(model, {
    revision: str(values, 'revision'),
    env: io.env,
    onProgress: flag(values, 'quiet') ? undefined : progressBar(io.stderr as NodeJS.WriteStream),
  });
  const { family } = await familyOf(dir);
  if (family.id === 'fgclip2') {
    // FG-CLIP 2: the stage-2 objective (its own parts and gradient engine)
    const r = await fgclip2LossOfReferenceBatch(dir, json, threads);
    if (flag(values, 'json')) printJson(io, r);
    else {
      io.stdout.write(
        `FG-CLIP 2 stage-2 loss ${r.loss.toFixed(6)}  (${Object.entries(r.parts)
          .map(([k, v]) => `${k} ${v.toFixed(6)}`)
          .join(', ')})\n`,
      );
      const total = Math.sqrt(Object.values(r.grad_norms).reduce((a, n) => a + n * n, 0));
      io.stdout.write(
        `global gradient norm ${total.toPrecision(6)} over ${Object.keys(r.grad_norms).length} parameters (--json for each); next threshold ${r.threshold_out.toFixed(6)}\n`,
      );
    }
    return 0;
  }
  const engine = await createGradientEngine(dir, { threads });
  try {
    const parsed = batchFromReferenceJson(json, engine.config);
    const stage = stageArg === undefined ? parsed.stage : (Number(stageArg) as 1 | 2);
    if (stage === 2 && parsed.stage === 1)
      throw new FgClipError(
        'INPUT_INVALID',
        `--batch ${batchFile}: stage 2 needs the box fields (box_infos_normalized_xyxy, box_texts, box_nums, hard_infos_normalized_xyxy, hard_texts, hard_nums)`,
      );
    const r = await engine.compute(engine.initialParams, parsed.batch, { stage, chunkSize });
    const gradNorms: Record<string, number> = {};
    for (const [name, g] of r.grads) {
      let s = 0;
      for (let i = 0; i < g.length; i++) s += g[i] * g[i];
      gradNorms[name] = Math.sqrt(s);
    }
    if (flag(values, 'json')) printJson(io, { loss: r.loss, parts: r.parts, grad_norms: gradNorms });
    else {
      io.stdout.write(
        `stage ${stage} loss ${r.loss.toFixed(6)}  (itc_long ${r.parts.itc_long.toFixed(6)}, itc_short ${r.parts.itc_short.toFixed(6)}, region ${r.parts.region.toFixed(6)}, hard_negative ${r.parts.hard_negative.toFixed(6)})\n`,
      );
      const total = Math.sqrt(Object.values(gradNorms).reduce((a, n) => a + n * n, 0));
      io.stdout.write(`global gradient norm ${total.toPrecision(6)} over ${r.grads.size} parameters (--json for each)\n`);
    }
    return 0;
  } finally {
    await engine.dispose();
  }
}
