/**
 * `fgclip download REPO [--revision R]`: fetches an FG-CLIP model's files into the Hugging Face cache (the same
 * files `FgClip.load` needs) and prints the local snapshot folder. Exit 0 once every file is cached.
 */
import { isRepoId, progressBar, resolveModelDir } from '../../hub/index.js';
import { flag, parse, str, UsageError, type Io } from '../args.js';

export async function downloadCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('download', argv, {
    revision: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (positionals.length !== 1) throw new UsageError(`download: give exactly one REPO, e.g. qihoo360/fg-clip-base (got ${positionals.length})`);
  const repo = positionals[0];
  if (!isRepoId(repo))
    throw new UsageError(`download: ${JSON.stringify(repo)} is not a Hub repo id (expected "org/name" or "org/name@revision"; local folders need no download)`);
  const dir = await resolveModelDir(repo, {
    revision: str(values, 'revision'),
    env: io.env,
    onProgress: flag(values, 'quiet') ? undefined : progressBar(io.stderr as NodeJS.WriteStream),
  });
  io.stdout.write(flag(values, 'json') ? JSON.stringify({ repo, path: dir }) + '\n' : `${dir}\n`);
  return 0;
}
