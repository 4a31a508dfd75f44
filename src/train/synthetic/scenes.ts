/**
 * A synthetic fine-grained dataset with answers no one can argue with: scenes of 2–4 non-overlapping shapes, each
 * with a colour, a shape, a size and a position, drawn into an RGB buffer and written as PNG (sharp); every scene
 * gets a long caption describing all objects, a short caption, and per object a box with a short and a long region
 * expression and 10 hard negatives that each change exactly one attribute (colour, shape, size or position) of the
 * short expression. Emitted in the FineHARD format, so the training data path is the real one.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { FgClipError } from '../../errors.js';
import { hash32, mulberry32 } from '../data/rng.js';

export const COLORS: Readonly<Record<string, readonly [number, number, number]>> = {
  red: [220, 30, 30],
  green: [30, 170, 40],
  blue: [30, 60, 220],
  yellow: [235, 215, 30],
  purple: [140, 40, 170],
  white: [250, 250, 250],
};
export const SHAPES = ['circle', 'square', 'triangle', 'diamond'] as const;
export const SIZES = ['small', 'large'] as const;
/** 3×3 position names, row-major from the top left */
export const POSITIONS = ['top left', 'top', 'top right', 'left', 'center', 'right', 'bottom left', 'bottom', 'bottom right'] as const;

export type Shape = (typeof SHAPES)[number];
export type Size = (typeof SIZES)[number];
export type Position = (typeof POSITIONS)[number];

export interface SceneObject {
  readonly color: string;
  readonly shape: Shape;
  readonly size: Size;
  readonly position: Position;
  /** pixel box [x1, y1, x2, y2) */
  readonly box: readonly [number, number, number, number];
}

export interface Scene {
  readonly width: number;
  readonly height: number;
  readonly objects: readonly SceneObject[];
}

const positionPhrase = (p: Position) => (p === 'center' ? 'in the center' : `at the ${p}`);
export const shortExpr = (o: Pick<SceneObject, 'color' | 'shape' | 'size' | 'position'>) => `a ${o.size} ${o.color} ${o.shape} ${positionPhrase(o.position)}`;
/** the query of the heatmap check: colour and shape only */
export const objectName = (o: Pick<SceneObject, 'color' | 'shape'>) => `the ${o.color} ${o.shape}`;

/** A random scene: objects on distinct cells of the 3×3 grid, with distinct colour+shape pairs. */
export function randomScene(rand: () => number, size = 64): Scene {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const n = 2 + Math.floor(rand() * 3);
  const cells = [...POSITIONS.keys()];
  for (let i = cells.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [cells[i], cells[j]] = [cells[j], cells[i]];
  }
  const used = new Set<string>();
  const objects: SceneObject[] = [];
  const cell = size / 3;
  for (let k = 0; k < n; k++) {
    let color: string;
    let shape: Shape;
    do {
      color = pick(Object.keys(COLORS));
      shape = pick(SHAPES);
    } while (used.has(`${color} ${shape}`));
    used.add(`${color} ${shape}`);
    const sz = pick(SIZES);
    const c = cells[k];
    const side = Math.round(cell * (sz === 'large' ? 0.9 : 0.5));
    const slack = Math.floor(cell - side);
    const x1 = Math.floor((c % 3) * cell + rand() * (slack + 1));
    const y1 = Math.floor(Math.floor(c / 3) * cell + rand() * (slack + 1));
    objects.push({ color, shape, size: sz, position: POSITIONS[c], box: [x1, y1, Math.min(size, x1 + side), Math.min(size, y1 + side)] });
  }
  return { width: size, height: size, objects };
}

function inside(shape: Shape, u: number, v: number): boolean {
  // u, v in [-1, 1] over the object's box
  switch (shape) {
    case 'circle':
      return u * u + v * v <= 1;
    case 'square':
      return Math.abs(u) <= 0.9 && Math.abs(v) <= 0.9;
    case 'diamond':
      return Math.abs(u) + Math.abs(v) <= 1;
    case 'triangle':
      return v >= -1 && Math.abs(u) <= (v + 1) / 2;
  }
}

/** The scene as HWC RGB bytes (gray background with mild seeded noise). */
export function renderScene(scene: Scene, rand: () => number): Uint8Array {
  const { width: W, height: H } = scene;
  const px = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) {
    const g = 120 + Math.floor(rand() * 16);
    px[3 * i] = g;
    px[3 * i + 1] = g;
    px[3 * i + 2] = g;
  }
  for (const o of scene.objects) {
    const [x1, y1, x2, y2] = o.box;
    const [r, g, b] = COLORS[o.color];
    for (let y = y1; y < y2; y++) {
      for (let x = x1; x < x2; x++) {
        const u = ((x + 0.5 - x1) / (x2 - x1)) * 2 - 1;
        const v = ((y + 0.5 - y1) / (y2 - y1)) * 2 - 1;
        if (!inside(o.shape, u, v)) continue;
        const i = 3 * (y * W + x);
        px[i] = r;
        px[i + 1] = g;
        px[i + 2] = b;
      }
    }
  }
  return px;
}

/** 10 negatives of an object's short expression, each changing exactly one attribute; every attribute kind appears. */
export function hardNegatives(o: SceneObject, rand: () => number): string[] {
  const variants: { kind: string; text: string }[] = [];
  for (const c of Object.keys(COLORS)) if (c !== o.color) variants.push({ kind: 'color', text: shortExpr({ ...o, color: c }) });
  for (const s of SHAPES) if (s !== o.shape) variants.push({ kind: 'shape', text: shortExpr({ ...o, shape: s }) });
  for (const s of SIZES) if (s !== o.size) variants.push({ kind: 'size', text: shortExpr({ ...o, size: s }) });
  for (const p of POSITIONS) if (p !== o.position) variants.push({ kind: 'position', text: shortExpr({ ...o, position: p }) });
  const chosen: string[] = [];
  for (const kind of ['color', 'shape', 'size', 'position']) {
    const of = variants.filter((v) => v.kind === kind && !chosen.includes(v.text));
    chosen.push(of[Math.floor(rand() * of.length)].text);
  }
  const rest = variants.filter((v) => !chosen.includes(v.text));
  while (chosen.length < 10) chosen.push(rest.splice(Math.floor(rand() * rest.length), 1)[0].text);
  return chosen;
}

const list = (xs: string[]) => (xs.length === 1 ? xs[0] : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** The FineHARD record of a scene whose image is at `fPath`. */
export function sceneRecord(scene: Scene, fPath: string, rand: () => number): Record<string, unknown> {
  const { width: W, height: H, objects } = scene;
  const caption = `A picture of ${objects.length} shapes on a gray background: ${list(objects.map(shortExpr))}.`;
  const short = list(objects.map((o) => `a ${o.color} ${o.shape}`));
  const bbox_info = objects.map((o, k) => {
    const other = objects[(k + 1) % objects.length];
    const negs = hardNegatives(o, rand);
    return {
      bbox: [o.box[0] / W, o.box[1] / H, o.box[2] / W, o.box[3] / H],
      short_expr: shortExpr(o),
      long_expr: `${shortExpr(o)}, in a picture that also shows ${shortExpr(other)}`,
      flag_short_neg: 1,
      short_expr_negs: Object.fromEntries(negs.map((t, i) => [String(i), t])),
    };
  });
  return { f_path: fPath, caption, short_caption: short, bbox_info };
}

export interface GenerateOptions {
  readonly out: string;
  readonly train: number;
  readonly heldOut: number;
  readonly seed?: number;
  readonly imageSize?: number;
}

/** Writes `out/images/*.png`, `out/train.json` and `out/heldout.json` (FineHARD JSON lists). */
export async function generateSyntheticDataset(o: GenerateOptions): Promise<{ train: string; heldOut: string }> {
  for (const [k, v] of [
    ['train', o.train],
    ['heldOut', o.heldOut],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new FgClipError('INPUT_INVALID', `synthetic dataset: ${k} must be an integer ≥ 0 (got ${v})`);
  }
  const size = o.imageSize ?? 64;
  if (!Number.isInteger(size) || size < 24) throw new FgClipError('INPUT_INVALID', `synthetic dataset: image size must be an integer ≥ 24 (got ${size})`);
  mkdirSync(join(o.out, 'images'), { recursive: true });
  const seed = o.seed ?? 1;
  const make = async (split: string, n: number, salt: number) => {
    const records: Record<string, unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const rand = mulberry32(hash32(seed, salt, i));
      const scene = randomScene(rand, size);
      const name = `images/${split}-${String(i).padStart(5, '0')}.png`;
      await sharp(renderScene(scene, rand), { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toFile(join(o.out, name));
      records.push(sceneRecord(scene, name, rand));
    }
    const file = join(o.out, `${split}.json`);
    writeFileSync(file, JSON.stringify(records, null, 1) + '\n');
    return file;
  };
  return { train: await make('train', o.train, 1), heldOut: await make('heldout', o.heldOut, 2) };
}
