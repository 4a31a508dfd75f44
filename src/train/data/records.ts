/**
 * Training records from the two input formats, each checked field by field so a bad record is reported with its
 * place in the file instead of becoming a silent wrong batch:
 *
 * - FineHARD (the reference's stage-2 data, train_fgclip.py `LazySupervisedBboxDataset`): a JSON list or JSONL of
 *   `{f_path, caption, short_caption, bbox_info: [{bbox: [x1,y1,x2,y2(,score)] in [0,1], short_expr, long_expr,
 *   flag_short_neg, short_expr_negs: {k: text} × 10}]}`. The first 4 boxes are used (`max_anns`); hard boxes are
 *   those with `flag_short_neg == 1`, each with its 10 negatives in the dict's order.
 * - Stage-1 pairs: JSONL (`image` or `f_path`, `caption`, optional `short_caption`) or CSV with those columns.
 *
 * Records never touch the disk here (images are checked when they are loaded, see loader.ts).
 */
import { readFileSync } from 'node:fs';
import { extname, isAbsolute, join } from 'node:path';
import { parseCsv } from '../../eval/csv.js';
import { FgClipError } from '../../errors.js';
import type { NormalizedBox } from '../types.js';

/** Boxes per image the reference keeps (`max_anns = 4`). */
export const MAX_BOXES = 4;
/** Negatives per hard box the hard-negative loss needs (an 11-way choice). */
export const HARD_NEGATIVES = 10;

export interface RecordBox {
  readonly box: NormalizedBox;
  readonly shortExpr: string;
  readonly longExpr: string;
  /** the positive (`short_expr`) then its 10 negatives, when `flag_short_neg == 1` */
  readonly hardTexts?: readonly string[];
}

export interface TrainRecord {
  /** "file:line" (JSONL), "file:line (record N)" (JSON list) or "file:row N" (CSV) */
  readonly where: string;
  /** image path, joined to the images folder */
  readonly image: string;
  readonly caption: string;
  /** as given in the file (the "a photo of " prefix is added when batches are built, see loader.ts) */
  readonly shortCaption?: string;
  /** FineHARD only: the first MAX_BOXES boxes */
  readonly boxes?: readonly RecordBox[];
  /** the record has an `is_cn` field (FG-CLIP 2's Chinese pairs: no "a photo of " prefix, no boxes; train_fgclip2.py:246-253) */
  readonly isCn?: boolean;
}

export interface BadRecord {
  readonly where: string;
  readonly reason: string;
}

export interface ParsedRecords {
  readonly records: TrainRecord[];
  readonly bad: BadRecord[];
  /** boxes beyond the first MAX_BOXES of a record, ignored as the reference ignores them */
  readonly ignoredBoxes: number;
}

export interface ReadRecordsOptions {
  /** folder the records' image paths are relative to (default: the data file's folder) */
  readonly imagesDir?: string;
  /** a prefix removed from `f_path` (the reference strips "grit-20m/data-12m/"); default none */
  readonly stripPrefix?: string;
  /** require FineHARD boxes (stage 2) */
  readonly requireBoxes?: boolean;
  /** folder the image paths of `is_cn` records are relative to (FG-CLIP 2's --cn_image_root; default imagesDir) */
  readonly cnImagesDir?: string;
}

class RecordError extends Error {}

const fail = (what: string): never => {
  throw new RecordError(what);
};
const show = (x: unknown): string => {
  const s = JSON.stringify(x);
  return s === undefined ? String(x) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

function text(o: Record<string, unknown>, key: string, where = ''): string {
  const v = o[key];
  if (v === undefined) fail(`missing field ${where}${key}`);
  if (typeof v !== 'string' || v.trim() === '') fail(`${where}${key} must be a non-empty string (got ${show(v)})`);
  return v as string;
}

function parseBox(b: unknown, i: number): RecordBox {
  const w = `bbox_info[${i}].`;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return fail(`${w.slice(0, -1)} must be an object (got ${show(b)})`);
  const o = b as Record<string, unknown>;
  const bb = o.bbox;
  if (bb === undefined) fail(`missing field ${w}bbox`);
  if (!Array.isArray(bb) || (bb.length !== 4 && bb.length !== 5) || !bb.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    fail(`${w}bbox must be [x1, y1, x2, y2] (optionally with a score) of finite numbers (got ${show(bb)})`);
  }
  const [x1, y1, x2, y2] = bb as number[];
  if ([x1, y1, x2, y2].some((x) => x < 0 || x > 1)) fail(`${w}bbox must be normalized to [0, 1] (got ${show(bb)})`);
  if (x2 < x1 || y2 < y1) fail(`${w}bbox is inverted (x2 < x1 or y2 < y1: got ${show(bb)})`);
  const shortExpr = text(o, 'short_expr', w);
  const longExpr = text(o, 'long_expr', w);
  const flag = o.flag_short_neg;
  if (flag === undefined) fail(`missing field ${w}flag_short_neg`);
  if (flag !== 0 && flag !== 1) fail(`${w}flag_short_neg must be 0 or 1 (got ${show(flag)})`);
  if (flag !== 1) return { box: [x1, y1, x2, y2], shortExpr, longExpr };
  const negs = o.short_expr_negs;
  if (negs === undefined) fail(`missing field ${w}short_expr_negs (flag_short_neg is 1)`);
  if (typeof negs !== 'object' || negs === null) fail(`${w}short_expr_negs must be an object or list of ${HARD_NEGATIVES} texts (got ${show(negs)})`);
  const values = Array.isArray(negs) ? negs : Object.values(negs as object);
  if (values.length !== HARD_NEGATIVES) fail(`${w}short_expr_negs must hold exactly ${HARD_NEGATIVES} negatives (got ${values.length})`);
  values.forEach((v, k) => {
    if (typeof v !== 'string' || v.trim() === '') fail(`${w}short_expr_negs entry ${k + 1} must be a non-empty string (got ${show(v)})`);
  });
  return { box: [x1, y1, x2, y2], shortExpr, longExpr, hardTexts: [shortExpr, ...(values as string[])] };
}

function parseObject(o: unknown, where: string, opts: ReadRecordsOptions & { imagesDir: string }): { record: TrainRecord; ignored: number } {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return fail(`expected a JSON object (got ${show(o)})`);
  const r = o as Record<string, unknown>;
  const pathKey = r.f_path !== undefined ? 'f_path' : r.image !== undefined ? 'image' : undefined;
  if (!pathKey) return fail('missing field f_path (or image)');
  let p = text(r, pathKey);
  if (opts.stripPrefix) p = p.split(opts.stripPrefix).join('');
  const caption = text(r, 'caption');
  const shortCaption = r.short_caption === undefined && !opts.requireBoxes ? undefined : text(r, 'short_caption');
  let boxes: RecordBox[] | undefined;
  let ignored = 0;
  if (opts.requireBoxes || r.bbox_info !== undefined) {
    const info = r.bbox_info;
    if (info === undefined) fail('missing field bbox_info (stage 2 needs FineHARD records)');
    if (!Array.isArray(info)) fail(`bbox_info must be a list (got ${show(info)})`);
    const list = info as unknown[];
    boxes = list.slice(0, MAX_BOXES).map(parseBox);
    ignored = Math.max(0, list.length - MAX_BOXES);
  }
  const isCn = r.is_cn !== undefined;
  const root = isCn && opts.cnImagesDir !== undefined ? opts.cnImagesDir : opts.imagesDir;
  return { record: { where, image: isAbsolute(p) ? p : join(root, p), caption, shortCaption, boxes, ...(isCn ? { isCn } : {}) }, ignored };
}

/**
 * 1-based line of each top-level element of a JSON list, by scanning the text (strings and escapes respected).
 * Only called on text JSON.parse accepted.
 */
export function topLevelLines(textIn: string): number[] {
  const lines: number[] = [];
  let depth = 0;
  let line = 1;
  let inString = false;
  let expecting = false;
  for (let i = 0; i < textIn.length; i++) {
    const c = textIn[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (depth === 1 && expecting && c !== ' ' && c !== '\n' && c !== '\r' && c !== '\t' && c !== ',' && c !== ']') {
      lines.push(line);
      expecting = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expecting = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expecting = true;
  }
  return lines;
}

/** Parses a data file's text. Format from the extension: .csv, .jsonl, else JSON (a list) or JSONL. */
export function parseRecords(content: string, source: string, opts: ReadRecordsOptions & { imagesDir: string }): ParsedRecords {
  const records: TrainRecord[] = [];
  const bad: BadRecord[] = [];
  let ignoredBoxes = 0;
  const take = (o: unknown, where: string) => {
    try {
      const { record, ignored } = parseObject(o, where, opts);
      records.push(record);
      ignoredBoxes += ignored;
    } catch (e) {
      if (!(e instanceof RecordError)) throw e;
      bad.push({ where, reason: e.message });
    }
  };
  const ext = extname(source).toLowerCase();
  if (ext === '.csv') {
    const rows = parseCsv(content, source);
    if (rows.length === 0)
      throw new FgClipError('INPUT_INVALID', `${source}: empty CSV (expected a header naming image (or f_path), caption and optionally short_caption)`);
    const header = rows[0].map((h) => h.trim());
    if (!header.includes('caption') || (!header.includes('image') && !header.includes('f_path'))) {
      throw new FgClipError('INPUT_INVALID', `${source}: the CSV header must name an image (or f_path) column and a caption column (got ${show(rows[0])})`);
    }
    rows.slice(1).forEach((row, i) => {
      if (row.length === 1 && row[0].trim() === '') return;
      const o: Record<string, string> = {};
      header.forEach((h, k) => {
        if (row[k] !== undefined && row[k] !== '') o[h] = row[k];
      });
      take(o, `${source}:row ${i + 2}`);
    });
    return { records, bad, ignoredBoxes };
  }
  const trimmed = content.trimStart();
  if (ext !== '.jsonl' && trimmed.startsWith('[')) {
    let list: unknown;
    try {
      list = JSON.parse(content);
    } catch (e) {
      throw new FgClipError('INPUT_INVALID', `${source}: not valid JSON (${(e as Error).message}); a FineHARD file is a JSON list of records or JSONL`);
    }
    const lines = topLevelLines(content);
    (list as unknown[]).forEach((o, i) => take(o, `${source}:${lines[i] ?? '?'} (record ${i + 1})`));
    return { records, bad, ignoredBoxes };
  }
  content.split('\n').forEach((l, i) => {
    if (l.trim() === '') return;
    let o: unknown;
    try {
      o = JSON.parse(l);
    } catch (e) {
      bad.push({ where: `${source}:${i + 1}`, reason: `not valid JSON (${(e as Error).message})` });
      return;
    }
    take(o, `${source}:${i + 1}`);
  });
  return { records, bad, ignoredBoxes };
}

export function readRecords(file: string, opts: ReadRecordsOptions = {}): ParsedRecords {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FgClipError('INPUT_INVALID', `${file}: cannot read the data file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
  }
  const imagesDir = opts.imagesDir ?? join(file, '..');
  return parseRecords(content, file, { ...opts, imagesDir });
}
