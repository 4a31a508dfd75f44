/**
 * `fgclip search DIR --text "…" | --image Q.jpg`: images under DIR ranked by cosine to the query (collection/folder.ts:
 * the folder is indexed into a collection of its own in the cache, then searched exactly).
 * Output contract (--json): {"results": [{"path", "score"}, …]}, best first. Image embeddings are stored by file
 * content, so a second search over the same (or a grown) folder only encodes new files.
 */
import { searchImages } from '../../collection/folder.js';
import { FgClipError } from '../../errors.js';
import { flag, int, MODEL_OPTIONS, parse, printJson, str, UsageError, withModel, type Io } from '../args.js';
import { cacheSetting, CACHE_OPTIONS, notices } from './classify.js';
import { collectionSearchCommand, STORAGE_OPTIONS } from './collection.js';

export async function searchCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse('search', argv, {
    ...MODEL_OPTIONS,
    ...CACHE_OPTIONS,
    text: { type: 'string', short: 't' },
    image: { type: 'string', short: 'i' },
    top: { type: 'string' },
    'batch-size': { type: 'string' },
    ...STORAGE_OPTIONS,
    regions: { type: 'boolean' },
    path: { type: 'string' },
    'min-width': { type: 'string' },
    'min-height': { type: 'string' },
    'max-width': { type: 'string' },
    'max-height': { type: 'string' },
    after: { type: 'string' },
    before: { type: 'string' },
  });
  if (str(values, 'collection') !== undefined) return collectionSearchCommand(values, positionals, io);
  if (positionals.length !== 1) throw new UsageError(`search: give exactly one folder DIR (got ${positionals.length} arguments)`);
  const text = str(values, 'text');
  const image = str(values, 'image');
  if ((text === undefined) === (image === undefined)) throw new UsageError('search: give either --text "…" or --image FILE as the query');
  const top = int(values, 'top') ?? 10;
  const cache = cacheSetting(values, io);
  const n = notices(values, io, 'indexing');
  return withModel(values, 'search', io, async (m) => {
    const out = await searchImages(m, positionals[0], text !== undefined ? { text } : { image: image as string }, {
      top,
      cache,
      batchSize: int(values, 'batch-size'),
      onWarning: n.onWarning,
      onProgress: n.onProgress,
    });
    n.done();
    if (!flag(values, 'quiet')) {
      io.stderr.write(
        `fgclip: ${out.indexed} image(s) ranked: ${out.encoded} encoded, ${out.indexed - out.encoded} from the cache${out.skipped.length ? `, ${out.skipped.length} skipped` : ''}\n`,
      );
    }
    if (out.indexed === 0) {
      throw new FgClipError(
        'INPUT_INVALID',
        `search: no readable images under ${positionals[0]}${out.skipped.length ? ` (${out.skipped.length} skipped)` : ''}`,
      );
    }
    if (flag(values, 'json')) printJson(io, { results: out.results });
    else out.results.forEach((r, i) => io.stdout.write(`${String(i + 1).padStart(3)}  ${r.score.toFixed(4)}  ${r.path}\n`));
    return 0;
  });
}
