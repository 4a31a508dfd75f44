/** `fgclip` command-line entry: dispatches to one thin command module per subcommand. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reportError, type Io } from './args.js';

type Command = (argv: readonly string[], io: Io) => Promise<number>;

interface Entry {
  readonly summary: string;
  readonly usage: string;
  readonly load: () => Promise<Command>;
}

const COMMANDS: Record<string, Entry> = {
  tokenize: {
    summary: 'token ids of texts (padded to --max-length)',
    usage: 'fgclip tokenize --model DIR|REPO [--max-length 77|248] [--no-padding] [--json] TEXT...',
    load: async () => (await import('./commands/core.js')).tokenizeCommand,
  },
  embed: {
    summary: 'embeddings of texts or images',
    usage: 'fgclip embed --model M (--text T)... [--long|--short] [--raw] [--json] [--npy FILE]\n       fgclip embed --model M (--image FILE)... [--raw] [--json] [--npy FILE]',
    load: async () => (await import('./commands/core.js')).embedCommand,
  },
  dense: {
    summary: 'per-patch features of an image',
    usage: 'fgclip dense --model M --image FILE [--raw] [--json] [--npy FILE]',
    load: async () => (await import('./commands/core.js')).denseCommand,
  },
  regions: {
    summary: 'features of boxes in an image, or labels ranked per box',
    usage: 'fgclip regions --model M --image FILE (--box x1,y1,x2,y2)... [--boxes FILE [--box-format xyxy|xywh]] [--labels "a,b" | --labels-file F] [--raw] [--json]',
    load: async () => (await import('./commands/regions.js')).regionsCommand,
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
    'usage: fgclip COMMAND [options]      (fgclip COMMAND --help for its options)',
    '',
    ...Object.entries(COMMANDS).map(([k, e]) => `  ${k.padEnd(width)}  ${e.summary}`),
    '',
    'Common options: --model DIR|REPO, --revision R, --threads N, --json, --quiet.',
    'Models: a local folder in the Hugging Face layout, or a Hub id (qihoo360/fg-clip-base) fetched into the HF cache.',
    '',
  ].join('\n');
}

export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const [name, ...rest] = argv;
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
    io.stderr.write(`fgclip: unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${entry.summary}\n\nusage: ${entry.usage}\n`);
    return 0;
  }
  try {
    return await (await entry.load())(rest, io);
  } catch (e) {
    return reportError(io, e);
  }
}
