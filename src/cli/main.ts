/**
 * `fgclip` command-line entry: dispatches to one thin command module per subcommand.
 *
 * Adding a command: one entry in COMMANDS below (summary, usage, examples, and `load` importing the module lazily so
 * other commands do not pay for it). The module exports `async (argv, io) => exitCode` and starts with
 * `parse('NAME', argv, { ...MODEL_OPTIONS, 'my-option': { type: 'string', description: '…', default: '…' } })` from
 * ./args.ts; `fgclip NAME --help` and `fgclip help NAME` then list its options with their help, defaults and the
 * examples. Throw UsageError for bad usage (exit 2) and FgClipError for everything else (exit 1, `[CODE]`).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command as Commander, CommanderError } from 'commander';
import { HelpRequested, reportError, type Io } from './args.js';

type Command = (argv: readonly string[], io: Io) => Promise<number>;

interface Entry {
  readonly summary: string;
  readonly usage: string;
  /** Command lines shown under "examples:" in the command's --help. */
  readonly examples?: readonly string[];
  readonly load: () => Promise<Command>;
}

const COMMANDS: Record<string, Entry> = {
  tokenize: {
    summary: 'token ids of texts (padded to --max-length)',
    usage: 'fgclip tokenize --model DIR|REPO [--max-length N] [--no-padding] [--json] TEXT...',
    examples: [
      'fgclip tokenize -m qihoo360/fg-clip-base "a photo of a cat" --json',
      'fgclip tokenize -m qihoo360/fg-clip-base --max-length 248 "a long caption …"',
    ],
    load: async () => (await import('./commands/core.js')).tokenizeCommand,
  },
  embed: {
    summary: 'embeddings of texts or images',
    usage:
      'fgclip embed --model M (--text T | --text - | --texts-file FILE)... [--long|--short|--walk W] [--raw] [--json|--jsonl] [--npy FILE [--paths FILE]]\n' +
      '       fgclip embed --model M (IMAGE | DIR | "GLOB")... [--raw] [--json|--jsonl] [--npy FILE [--paths FILE]]',
    examples: [
      'fgclip embed -m qihoo360/fg-clip-base --text "a photo of a cat" --json',
      'fgclip embed -m qihoo360/fg-clip-base photos/ --jsonl > vectors.jsonl',
      'fgclip embed -m qihoo360/fg-clip-base "photos/*.jpg" --npy vectors.npy --paths paths.txt',
      'cat captions.txt | fgclip embed -m qihoo360/fg-clip-base --text - --jsonl',
    ],
    load: async () => (await import('./commands/core.js')).embedCommand,
  },
  dense: {
    summary: 'per-patch features of an image',
    usage: 'fgclip dense --model M --image FILE [--raw] [--json] [--npy FILE]',
    examples: ['fgclip dense -m qihoo360/fg-clip-base cat.jpg --npy patches.npy', 'fgclip dense -m qihoo360/fg-clip-base --image cat.jpg --json > dense.json'],
    load: async () => (await import('./commands/core.js')).denseCommand,
  },
  regions: {
    summary: 'features of boxes in an image, or labels ranked per box',
    usage:
      'fgclip regions --model M --image FILE (--box x1,y1,x2,y2)... [--boxes FILE [--box-format xyxy|xywh]] [--labels "a,b" | --labels-file F] [--raw] [--json]',
    examples: [
      'fgclip regions -m qihoo360/fg-clip-base cat.jpg --box 300,120,640,480 --labels "black cat,white cat"',
      'fgclip regions -m qihoo360/fg-clip-base cat.jpg --boxes boxes.json --box-format xywh --json',
    ],
    load: async () => (await import('./commands/regions.js')).regionsCommand,
  },
  serve: {
    summary: 'HTTP API (OpenAI-style embeddings, classify, heatmap, regions, rank) with dynamic batching, and a web page',
    usage:
      'fgclip serve --model M [--host 127.0.0.1] [--port 8080] [--api-key K]... [--no-batching] [--max-batch-size 32] [--max-wait-ms 0]\n' +
      '       [--max-queue 1024] [--timeout-ms 30000] [--max-body-bytes N] [--max-inputs 256] [--max-images 16] [--image-root DIR]\n' +
      '       [--allow-remote-images [--allow-private-images]] [--max-image-bytes N] [--remote-timeout-ms 10000] [--model-name NAME] [--quiet]\n' +
      '       [--collection PATH [--storage-option key=value]...]   (the /v1/collection routes and the gallery)\n' +
      '       (API keys also from FGCLIP_API_KEYS=k1,k2)',
    examples: [
      'fgclip serve -m qihoo360/fg-clip-base                       # http://127.0.0.1:8080/',
      'fgclip serve -m qihoo360/fg-clip-base --host 0.0.0.0 --api-key "$KEY" --max-batch-size 16',
      'fgclip serve -m qihoo360/fg-clip-base --collection photos.lance --image-root photos/',
    ],
    load: async () => (await import('./commands/serve.js')).serveCommand,
  },
  classify: {
    summary: 'zero-shot labels for images',
    usage:
      'fgclip classify --model M IMAGE... (--labels "a cat,a dog" | --labels-file F) [--templates none|imagenet|FILE] [--top K] [--json|--jsonl] [--cache-dir DIR|--no-cache]',
    examples: [
      'fgclip classify -m qihoo360/fg-clip-base photo.jpg --labels "a cat,a dog"',
      'fgclip classify -m qihoo360/fg-clip-base photos/*.jpg --labels-file labels.txt --templates imagenet --jsonl',
    ],
    load: async () => (await import('./commands/classify.js')).classifyCommand,
  },
  search: {
    summary: 'rank the images of a folder or a collection against a text or an image (--regions: where)',
    usage:
      'fgclip search --model M DIR (--text "…" | --image Q.jpg) [--top K] [--json] [--cache-dir DIR|--no-cache]\n' +
      '       fgclip search --model M --collection PATH (--text "…" | --image Q.jpg) [--regions] [--top K] [--json]\n' +
      '              [--path GLOB] [--min-width N] [--max-width N] [--min-height N] [--max-height N] [--after DATE] [--before DATE]\n' +
      '              [--storage-option key=value]...',
    examples: [
      'fgclip search -m qihoo360/fg-clip-base photos/ --text "a red bicycle" --top 5',
      'fgclip search -m qihoo360/fg-clip-base --collection photos.lance --text "a red bicycle" --regions --json',
      'fgclip search -m qihoo360/fg-clip-base --collection photos.lance --image query.jpg --after 2024-05-01',
    ],
    load: async () => (await import('./commands/search.js')).searchCommand,
  },
  index: {
    summary: 'index folders / files / globs into a collection (incremental, crash-safe; --queue: embed on workers)',
    usage:
      'fgclip index DIR|FILE|GLOB... --model M --collection PATH [--json] [--batch-size 32] [--regions grid|patches|none]\n' +
      '       [--index-threshold N] [--queue redis://HOST:PORT [--queue-name NAME]] [--storage-option key=value]...',
    examples: [
      'fgclip index photos/ -m qihoo360/fg-clip-base --collection photos.lance',
      'fgclip index "shots/**/*.png" -m qihoo360/fg-clip-base -c s3://bucket/photos --storage-option region=eu-west-1',
      'fgclip index photos/ -m qihoo360/fg-clip-base -c photos.lance --queue redis://127.0.0.1:6379',
    ],
    load: async () => (await import('./commands/collection.js')).indexCommand,
  },
  worker: {
    summary: 'embed queued images for collections (any number of machines; see fgclip index --queue)',
    usage: 'fgclip worker --queue redis://HOST:PORT --model M [--queue-name NAME] [--concurrency 1] [--threads N]',
    examples: ['fgclip worker --queue redis://127.0.0.1:6379 -m qihoo360/fg-clip-base --concurrency 4'],
    load: async () => (await import('./commands/worker.js')).workerCommand,
  },
  heatmap: {
    summary: 'patch-text similarity maps of an image',
    usage: 'fgclip heatmap --model M IMAGE (--text T)... [--out FILE.png] [--json] [--shared-scale]',
    examples: ['fgclip heatmap -m qihoo360/fg-clip-base cat.jpg --text "white cat" --text "black cat" --out heat.png'],
    load: async () => (await import('./commands/heatmap.js')).heatmapCommand,
  },
  eval: {
    summary: 'evaluation protocols: fgovd, retrieval, zeroshot, boxes',
    usage:
      'fgclip eval fgovd --model M --data FILE.jsonl --images DIR [--long]\n' +
      '       fgclip eval retrieval --model M --pairs FILE.json|FILE.csv --images DIR [--long|--short]\n' +
      '       fgclip eval zeroshot --model M --imagefolder DIR --classnames FILE [--templates imagenet|none|FILE]\n' +
      '       fgclip eval boxes --model M --annotations COCO.json --images DIR [--templates imagenet|none|FILE]\n' +
      '       (all: [--out FILE.json] [--json] [--batch-size N])',
    examples: [
      'fgclip eval retrieval -m qihoo360/fg-clip-base --pairs pairs.json --images imgs/ --long',
      'fgclip eval zeroshot -m qihoo360/fg-clip-base --imagefolder val/ --classnames classes.txt --out zs.json',
    ],
    load: async () => (await import('./commands/eval.js')).evalCommand,
  },
  train: {
    summary: 'train or fine-tune FG-CLIP (stage 1 or 2) with checkpoints, resume, evaluation',
    usage:
      'fgclip train --data FILE [--images DIR] (--model M | --init synthetic --tokenizer-from DIR) --out DIR [--stage 1|2]\n' +
      '       [--batch-size 8] [--steps N | --epochs 1] [--lr 1e-6] [--warmup-steps 200] [--schedule cosine|linear|constant]\n' +
      '       [--weight-decay 0.001] [--max-grad-norm 1] [--text-lr-scale 1] [--region-weight 0.1] [--hard-negative-weight 0.5]\n' +
      '       [--chunk-size N] [--keep-region-scales] [--freeze vision|text|all-but-projections]... [--freeze-layers N] [--seed 42]\n' +
      '       [--save-every 500] [--keep 2] [--eval-data FILE [--eval-images DIR] [--eval-every N]] [--no-resume]\n' +
      '       [--on-bad-record skip|fail] [--workers 2] [--threads N] [--final-dtype f32|f16] [--json] [--quiet]',
    examples: [
      'fgclip synthetic --out data/ && fgclip train --init synthetic --tokenizer-from ckpt/ --data data/train.jsonl --out run/ --steps 200',
      'fgclip train -m qihoo360/fg-clip-base --data finehard.jsonl --images imgs/ --out run/ --stage 2 --batch-size 8 --chunk-size 2',
    ],
    load: async () => (await import('./commands/train.js')).trainCommand,
  },
  synthetic: {
    summary: 'write the synthetic fine-grained dataset (FineHARD format) of the demo model',
    usage: 'fgclip synthetic --out DIR [--train 2000] [--heldout 200] [--seed 1] [--image-size 64] [--json]',
    examples: ['fgclip synthetic --out data/ --train 500 --heldout 50'],
    load: async () => (await import('./commands/train.js')).syntheticCommand,
  },
  doctor: {
    summary: 'versions, threads, caches and cached models',
    usage: 'fgclip doctor [--json]',
    examples: ['fgclip doctor', 'fgclip doctor --json'],
    load: async () => (await import('./commands/doctor.js')).doctorCommand,
  },
  cache: {
    summary: 'list or clean the fgclip cache (compiled graphs, folder-search collections, embedding stores)',
    usage: 'fgclip cache [ls|clean] [--only graphs,folders,embeddings] [--older-than DAYS] [--dry-run] [--cache-dir DIR] [--json]',
    examples: ['fgclip cache', 'fgclip cache clean --older-than 30', 'fgclip cache clean --only folders --dry-run'],
    load: async () => (await import('./commands/cache.js')).cacheCommand,
  },
  export: {
    summary: 'vision and text towers as standard ONNX files + manifest (for onnxruntime-web/-node/Python)',
    usage: 'fgclip export --model DIR|REPO --out DIR [--dtype fp32|fp16|int8] [--revision R] [--force] [--json] [--quiet]',
    examples: ['fgclip export -m qihoo360/fg-clip-base --out fgclip-onnx/ --dtype fp16'],
    load: async () => (await import('./commands/export.js')).exportCommand,
  },
  loss: {
    summary: 'training loss of a checkpoint on one batch: the 4 parts and every gradient norm',
    usage: 'fgclip loss --model M --batch FILE.json [--stage 1|2] [--chunk-size N] [--threads N] [--json]',
    examples: ['fgclip loss -m ckpt/ --batch batch.json --json'],
    load: async () => (await import('./commands/loss.js')).lossCommand,
  },
  download: {
    summary: 'fetch a model from the Hugging Face Hub into the cache',
    usage: 'fgclip download REPO [--revision R] [--quiet]',
    examples: ['fgclip download qihoo360/fg-clip-base', 'fgclip download qihoo360/fg-clip2-base --revision main --json'],
    load: async () => (await import('./commands/download.js')).downloadCommand,
  },
};

function version(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    `fgclip ${version()}: FG-CLIP (fine-grained CLIP) in TypeScript on ONNX Runtime`,
    '',
    'usage: fgclip COMMAND [options]      (fgclip help COMMAND: its options, defaults and examples)',
    '',
    ...Object.entries(COMMANDS).map(([k, e]) => `  ${k.padEnd(width)}  ${e.summary}`),
    '',
    'Common options: --model DIR|REPO, --revision R, --threads N, --dtype fp32|int8|fp16, --json, --quiet.',
    'Models: a local folder in the Hugging Face layout, or a Hub id (qihoo360/fg-clip-base) fetched into the HF cache.',
    'Exit codes: 0 done, 1 error ("fgclip: error [CODE]: …" on stderr), 2 usage; with --json/--jsonl errors are also',
    '{"error": {"code", "message"}} on stdout.',
    '',
  ].join('\n');
}

/** "did you mean" for a mistyped command, from commander's suggestion engine. */
function unknownCommand(name: string): string {
  const program = new Commander('fgclip').exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  for (const k of Object.keys(COMMANDS)) program.command(k);
  try {
    program.parse([name], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.message.replace(/^error: /, '').replace(/\n/g, ' ');
  }
  return `unknown command ${JSON.stringify(name)}`;
}

function printCommandHelp(name: string, entry: Entry, optionList: string, io: Io): number {
  const at = optionList.indexOf('Options:');
  const options = at >= 0 ? optionList.slice(at) : optionList;
  const examples = entry.examples?.length ? `\nexamples:\n${entry.examples.map((x) => `  ${x}`).join('\n')}\n` : '';
  io.stdout.write(`fgclip ${name}: ${entry.summary}\n\nusage: ${entry.usage}\n\n${options}${examples}`);
  return 0;
}

async function run(name: string, entry: Entry, argv: readonly string[], io: Io): Promise<number> {
  try {
    return await (await entry.load())(argv, io);
  } catch (e) {
    if (e instanceof HelpRequested) return printCommandHelp(name, entry, e.help, io);
    const opts = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : argv.length);
    return reportError(io, e, { command: name, json: opts.includes('--json') || opts.includes('--jsonl') });
  }
}

export async function main(
  argv: readonly string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin },
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' && rest.length > 0) {
    const entry = COMMANDS[rest[0]];
    if (!entry) {
      io.stderr.write(`fgclip: ${unknownCommand(rest[0])}; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
      return 2;
    }
    return run(rest[0], entry, [...rest.slice(1), '--help'], io);
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(help());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(version() + '\n');
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    io.stderr.write(`fgclip: ${unknownCommand(name)}; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  return run(name, entry, rest, io);
}
