/**
 * `fgclip eval fgovd|retrieval|zeroshot|boxes`: the reference's evaluation protocols (docs/model-spec.md §6) on local data.
 * Each prints a table, writes its JSON result with --out FILE, and prints the JSON with --json.
 */
import { writeFileSync } from 'node:fs';
import { FgClipError } from '../../errors.js';
import { evalBoxes, readCoco } from '../../eval/boxes.js';
import { evalFgovd, readFgovd } from '../../eval/fgovd.js';
import { formatTable, percent } from '../../eval/report.js';
import { evalRetrieval, readPairs, RECALL_KS } from '../../eval/retrieval.js';
import { evalZeroshot, readClassnames, readImageFolder } from '../../eval/zeroshot.js';
import { flag, HelpRequested, int, MODEL_OPTIONS, optionsHelp, parse, printJson, str, UsageError, withModel, type Io, type Options } from '../args.js';
import { cacheSetting, CACHE_OPTIONS, notices, templatesOption } from './classify.js';

const SUBCOMMANDS = ['fgovd', 'retrieval', 'zeroshot', 'boxes'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

const COMMON: Options = { ...MODEL_OPTIONS, out: { type: 'string', short: 'o' }, 'batch-size': { type: 'string' } };

const SUB_OPTIONS: Record<Sub, Options> = {
  fgovd: { ...COMMON, data: { type: 'string' }, images: { type: 'string' }, long: { type: 'boolean' } },
  retrieval: { ...COMMON, pairs: { type: 'string' }, images: { type: 'string' }, long: { type: 'boolean' }, short: { type: 'boolean' } },
  zeroshot: { ...COMMON, ...CACHE_OPTIONS, imagefolder: { type: 'string' }, classnames: { type: 'string' }, templates: { type: 'string' } },
  boxes: { ...COMMON, ...CACHE_OPTIONS, annotations: { type: 'string' }, images: { type: 'string' }, templates: { type: 'string' } },
};

type Values = ReturnType<typeof parse>['values'];

function need(values: Values, sub: Sub, name: string, what: string): string {
  const v = str(values, name);
  if (!v) throw new UsageError(`eval ${sub}: --${name} ${what} is required`);
  return v;
}

export async function evalCommand(argv: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h')
    throw new HelpRequested(
      `Options: (fgclip eval PROTOCOL --help for one protocol)\n${SUBCOMMANDS.map((p) => `\neval ${p}:\n${optionsHelp(`eval ${p}`, SUB_OPTIONS[p]).replace(/^[\s\S]*?Options:\n/, '')}`).join('')}`,
    );
  if (!SUBCOMMANDS.includes(sub as Sub)) throw new UsageError(`eval: expected a protocol, one of ${SUBCOMMANDS.join(', ')} (got ${JSON.stringify(sub ?? '')})`);
  const s = sub as Sub;
  const { values, positionals } = parse(`eval ${s}`, rest, SUB_OPTIONS[s]);
  if (positionals.length > 0) throw new UsageError(`eval ${s}: unexpected arguments ${JSON.stringify(positionals)}`);
  const batchSize = int(values, 'batch-size');
  const n = notices(values, io, `eval ${s}`);
  const prepared = prepare(s, values, io);
  return withModel(values, `eval ${s}`, io, async (m) => {
    const { result, table } = await prepared(m, { batchSize, onProgress: n.onProgress, onWarning: n.onWarning, onLabelProgress: n.onLabelProgress });
    n.done();
    const out = str(values, 'out');
    if (out) {
      try {
        writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
      } catch (e) {
        throw new FgClipError('INPUT_INVALID', `--out ${out}: cannot write the result (${(e as Error).message})`, { cause: e });
      }
    }
    if (flag(values, 'json')) printJson(io, result);
    else io.stdout.write(table);
    return 0;
  });
}

type Run = (
  m: Parameters<typeof evalFgovd>[0],
  o: { batchSize?: number; onProgress?: (d: number, t: number) => void; onWarning?: (m: string) => void; onLabelProgress?: (d: number, t: number) => void },
) => Promise<{ result: unknown; table: string }>;

/** Reads and checks the dataset before the model loads, so a bad file fails fast. */
function prepare(s: Sub, values: Values, io: Io): Run {
  switch (s) {
    case 'fgovd': {
      const data = need(values, s, 'data', 'FILE.jsonl');
      const images = need(values, s, 'images', 'DIR');
      const items = readFgovd(data);
      return async (m, o) => {
        const r = await evalFgovd(m, items, images, { ...o, mode: flag(values, 'long') ? 'long' : 'short' });
        const { perItem, ...summary } = r;
        return {
          result: { ...summary, data, perItem },
          table: formatTable(
            ['protocol', 'items', 'images', 'correct', 'accuracy'],
            [['FG-OVD', String(r.items), String(r.images), String(r.correct), percent(r.accuracy)]],
          ),
        };
      };
    }
    case 'retrieval': {
      const file = need(values, s, 'pairs', 'FILE.json|FILE.csv');
      const images = need(values, s, 'images', 'DIR');
      if (flag(values, 'long') && flag(values, 'short')) throw new UsageError('eval retrieval: --long and --short exclude each other');
      const mode = flag(values, 'long') ? 'long' : flag(values, 'short') ? 'short' : 'auto';
      const pairs = readPairs(file);
      return async (m, o) => {
        const r = await evalRetrieval(m, pairs, images, { ...o, mode });
        if (r.truncated > 0) o.onWarning?.(`${r.truncated} caption(s) were longer than their text path and were cut`);
        const row = (name: string, rec: Record<number, number>) => [name, ...RECALL_KS.map((k) => percent(rec[k]))];
        return {
          result: { ...r, pairs: file, mode },
          table:
            `${r.images} images, ${r.texts} captions (${mode} text path)\n` +
            formatTable(['direction', ...RECALL_KS.map((k) => `R@${k}`)], [row('image→text', r.imageToText), row('text→image', r.textToImage)]),
        };
      };
    }
    case 'zeroshot': {
      const dir = need(values, s, 'imagefolder', 'DIR');
      const classnames = readClassnames(need(values, s, 'classnames', 'FILE'));
      const templates = templatesOption(str(values, 'templates'), 'imagenet');
      const cache = cacheSetting(values, io);
      return async (m, o) => {
        const r = await evalZeroshot(m, await readImageFolder(dir), classnames, { ...o, templates, cache });
        return { result: { ...r, imagefolder: dir }, table: accuracyTable('zero-shot', r) };
      };
    }
    case 'boxes': {
      const data = readCoco(need(values, s, 'annotations', 'COCO.json'));
      const images = need(values, s, 'images', 'DIR');
      const templates = templatesOption(str(values, 'templates'), 'imagenet');
      const cache = cacheSetting(values, io);
      return async (m, o) => {
        const r = await evalBoxes(m, data, images, { ...o, templates, cache });
        return { result: { ...r, annotations: str(values, 'annotations') }, table: accuracyTable('box classification', r) };
      };
    }
  }
}

function accuracyTable(name: string, r: { classes: number; total: number; top1: number; top5: number; templates: number }): string {
  return formatTable(
    ['protocol', 'classes', 'templates', 'samples', 'top-1', 'top-5'],
    [[name, String(r.classes), String(r.templates), String(r.total), percent(r.top1), percent(r.top5)]],
  );
}
