/**
 * `fgclip classify IMAGE... --labels "a cat,a dog"`: zero-shot labels per image (tasks/classify.ts).
 * Output contract (--json): {"results": [{"image": PATH, "labels": [{"label", "probability", "cosine"}, …]}], "scoring"},
 * labels by probability, highest first; --jsonl prints one {"image", "labels", "scoring"} object per line as images
 * finish. "scoring" says how probabilities were computed: "softmax" over the labels (FG-CLIP v1) or "sigmoid" per
 * label (FG-CLIP 2: sigmoid(exp(logit_scale)·cos + logit_bias), the labels' probabilities need not sum to 1).
 * Default templates: none (each label is its own prompt, as the model card); --templates imagenet for the 80.
 * The table shows the top 5 per image unless --top says otherwise; --json/--jsonl keep all labels unless --top.
 */
import { FgClipError } from '../../errors.js';
import { existsSync } from 'node:fs';
import type { CacheSetting } from '../../cache/vector-store.js';
import { classifyImagesIter } from '../../tasks/classify.js';
import { readTemplatesFile, type TemplateSpec } from '../../tasks/templates.js';
import { progressLine } from '../../eval/report.js';
import { flag, int, MODEL_OPTIONS, parse, printJson, str, UsageError, withModel, type Io, type Options } from '../args.js';
import { readLabels } from '../labels.js';

/** Cache options every embedding-caching command takes. */
export const CACHE_OPTIONS: Options = {
  'cache-dir': { type: 'string' },
  'no-cache': { type: 'boolean' },
};

export function cacheSetting(values: ReturnType<typeof parse>['values'], io: Io): CacheSetting {
  if (flag(values, 'no-cache')) {
    if (str(values, 'cache-dir') !== undefined) throw new UsageError('--cache-dir and --no-cache exclude each other');
    return false;
  }
  return { dir: str(values, 'cache-dir'), env: io.env };
}

/** --templates none | imagenet | FILE (one template per line, {} for the label). */
export function templatesOption(value: string | undefined, fallback: 'none' | 'imagenet'): TemplateSpec {
  if (value === undefined) return fallback;
  if (value === 'none' || value === 'imagenet') return value;
  if (!existsSync(value))
    throw new UsageError(`--templates: expected none, imagenet or a file of templates (got ${JSON.stringify(value)}, which is not a file)`);
  return readTemplatesFile(value);
}

/** Warning and progress sinks that honour --quiet. */
export function notices(values: ReturnType<typeof parse>['values'], io: Io, label: string) {
  const quiet = flag(values, 'quiet');
  const progress = quiet ? undefined : progressLine(io.stderr, label);
  const labels = quiet ? undefined : progressLine(io.stderr, 'encoding labels');
  return {
    onWarning: quiet ? undefined : (m: string) => io.stderr.write(`fgclip: warning: ${m}\n`),
    onProgress: progress?.update,
    onLabelProgress: labels
      ? (d: number, t: number) => {
          labels.update(d, t);
          if (d === t) labels.done();
        }
      : undefined,
    done: () => progress?.done(),
  };
}

export async function classifyCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('classify', argv, {
    ...MODEL_OPTIONS,
    ...CACHE_OPTIONS,
    labels: { type: 'string' },
    'labels-file': { type: 'string' },
    templates: { type: 'string' },
    top: { type: 'string' },
    jsonl: { type: 'boolean' },
    'batch-size': { type: 'string' },
  });
  if (positionals.length === 0) throw new UsageError('classify: give one or more IMAGE files');
  const labels = readLabels(values);
  if (!labels) throw new UsageError('classify: --labels "a cat,a dog" or --labels-file FILE is required');
  const templates = templatesOption(str(values, 'templates'), 'none');
  const json = flag(values, 'json');
  const jsonl = flag(values, 'jsonl');
  if (json && jsonl) throw new UsageError('classify: --json and --jsonl exclude each other');
  const top = int(values, 'top') ?? (json || jsonl ? undefined : 5);
  const cache = cacheSetting(values, io);
  const n = notices(values, io, 'classify');
  return withModel(values, 'classify', io, async (m) => {
    const results: { image: string; labels: unknown }[] = [];
    const iter = classifyImagesIter(m, positionals, labels, {
      templates,
      top,
      cache,
      batchSize: int(values, 'batch-size'),
      onWarning: n.onWarning,
      onProgress: n.onProgress,
      onLabelProgress: n.onLabelProgress,
    });
    let count = 0;
    for await (const part of iter) {
      for (const r of part.results) {
        count++;
        if (jsonl) printJson(io, { image: r.image, labels: r.labels, scoring: part.scoring });
        else if (json) results.push({ image: r.image, labels: r.labels });
        else {
          n.done();
          if (count === 1 && part.scoring === 'sigmoid')
            io.stdout.write('(probabilities: sigmoid(exp(t)·cos + b) per label, independent of the other labels — FG-CLIP 2)\n');
          io.stdout.write(
            `${r.image}\n${r.labels.map((l) => `  ${(l.probability * 100).toFixed(2).padStart(6)}%  cos ${l.cosine.toFixed(4)}  ${l.label}`).join('\n')}\n`,
          );
        }
      }
    }
    n.done();
    if (json) printJson(io, { results, scoring: m.scoreKind });
    if (count === 0) {
      throw new FgClipError('IMAGE_DECODE', `classify: none of the ${positionals.length} image(s) could be read (a warning gives each one's reason)`);
    }
    return 0;
  });
}
