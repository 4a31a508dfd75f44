/**
 * FG-CLIP v1 assembly: config.json → checkpoint tensors → text and vision graphs → ONNX Runtime sessions, with the
 * on-disk graph cache. The result is a `FamilyModel` the generic handle runs (src/model/handle.ts).
 */
import { loadPreprocessConfig } from '../../config/index.js';
import { parseConfig } from '../../config/load.js';
import type { FgClipConfig, PreprocessConfig } from '../../config/types.js';
import { FgClipError } from '../../errors.js';
import { graphCacheEntry, GRAPH_LAYOUT_VERSION, readCached, Staging } from '../../cache/graph-cache.js';
import { interpolatePositionEmbedding } from '../../postprocess/position-interpolation.js';
import { createSession, createSessionFromFile, ort, runSession } from '../../runtime/session.js';
import { ClipTokenizer } from '../../tokenizer/index.js';
import { loadCheckpoint } from '../../weights/index.js';
import { weightSource } from '../../weights/source.js';
import type { FamilyLoadContext, FamilyModel, TextMode, VisionFeatures } from '../types.js';
import { buildTextGraph, TEXT_EMBEDS_LONG, TEXT_EMBEDS_SHORT, TEXT_INPUT_IDS, TEXT_MASK, TEXT_POOL_INDEX, TEXT_POSITIONS } from './text-graph.js';
import { buildLongPositions, prepareTextBatch, type TextTables } from './text-inputs.js';
import { buildVisionGraph, DENSE_EMBEDS, IMAGE_EMBEDS, VISION_INPUT } from './vision-graph.js';

export async function loadFgClip(ctx: FamilyLoadContext): Promise<FgClipTowers> {
  const { dir, options } = ctx;
  const config = parseConfig(ctx.config, ctx.configPath);
  const preprocessConfig = await loadPreprocessConfig(dir, config, options.onWarning ?? (() => undefined));
  const tokenizer = await ClipTokenizer.fromModelDir(dir);
  const dtype = options.dtype ?? 'fp32';
  const vc = config.vision_config;
  const S = options.imageSize ?? vc.image_size;
  if (!Number.isInteger(S) || S <= 0 || S % vc.patch_size !== 0) {
    throw new FgClipError('INPUT_INVALID', `imageSize: expected a positive multiple of the patch size ${vc.patch_size} (got ${S})`);
  }
  const D = config.text_config.hidden_size;
  const base = { config, preprocessConfig, tokenizer, imageSize: S };
  const cacheOpt = options.graphCache ?? true;
  const entry = cacheOpt === false ? undefined : await graphCacheEntry(dir, { dtype, imageSize: S }, typeof cacheOpt === 'string' ? cacheOpt : undefined);
  const hit = entry && readCached(entry, S);
  if (entry && hit) {
    const [nShort] = hit.meta.tableSizes;
    const tables: TextTables = { shortPositions: hit.tables.subarray(0, nShort), longPositions: hit.tables.subarray(nShort) };
    const text = await createSessionFromFile('text_model', entry.textModel, options);
    const vision = await createSessionFromFile('vision_model', entry.visionModel(S), options);
    return new FgClipTowers({ ...base, logitScaleLog: hit.meta.logitScaleLog, unknownTensors: hit.meta.unknownTensors, fromGraphCache: true, textTables: tables, text, vision });
  }

  const { tensors, unknown } = await loadCheckpoint(dir, config);
  if (unknown.length > 0) options.onWarning?.(`${dir}: ${unknown.length} tensor(s) not used by FG-CLIP: ${unknown.slice(0, 8).join(', ')}${unknown.length > 8 ? ', …' : ''}`);
  const ws = weightSource(tensors);
  const tables: TextTables = {
    shortPositions: ws.get('text_model.embeddings.position_embedding.weight', [config.text_config.max_position_embeddings, D]),
    longPositions: buildLongPositions(
      ws.get('text_model.embeddings.position_embedding_ori.weight', [config.long_max_length, D]),
      ws.get('text_model.embeddings.position_embedding_res.weight', [config.long_max_length, D]),
      D,
      config.long_keep_length,
    ),
  };
  const logitScaleLog = ws.get('logit_scale', [])[0];
  const g0 = vc.image_size / vc.patch_size;
  const positionEmbedding =
    S === vc.image_size ? undefined : interpolatePositionEmbedding(ws.get('vision_model.embeddings.position_embedding.weight', [g0 * g0 + 1, vc.hidden_size]), vc.hidden_size, S / vc.patch_size, S / vc.patch_size);
  // From here each tensor is dropped from the map once its graph copy exists, and with the graph cache the
  // copies stream to files: the checkpoint is never held twice while the graphs are built.
  const consuming = weightSource(tensors, true);
  const staging = entry ? Staging.start(entry) : undefined;
  let text: ort.InferenceSession;
  let vision: ort.InferenceSession;
  if (entry && staging) {
    try {
      const textGraph = buildTextGraph(config, consuming, { dtype, sink: staging.sink('text') });
      staging.writeModel('text', textGraph);
      const visionGraph = buildVisionGraph(config, consuming, { imageSize: S, positionEmbedding, dtype, sink: staging.sink(`vision-${S}`) });
      staging.writeModel(`vision-${S}`, visionGraph);
      tensors.clear();
      staging.commit([tables.shortPositions, tables.longPositions], {
        version: GRAPH_LAYOUT_VERSION,
        logitScaleLog,
        unknownTensors: unknown,
        tableSizes: [tables.shortPositions.length, tables.longPositions.length],
      });
    } catch (e) {
      staging.abort();
      if (e instanceof FgClipError) throw e;
      throw new FgClipError('RUNTIME', `graph cache: could not write ${entry.dir} (${e instanceof Error ? e.message : String(e)}). Set FGCLIP_CACHE to a writable folder, or load with graphCache: false.`, { cause: e });
    }
    text = await createSessionFromFile('text_model', entry.textModel, options);
    vision = await createSessionFromFile('vision_model', entry.visionModel(S), options);
  } else {
    if (entry) options.onWarning?.(`graph cache: cannot create ${entry.dir}; building in memory (set FGCLIP_CACHE to a writable folder)`);
    const textGraph = buildTextGraph(config, consuming, { dtype });
    const visionGraph = buildVisionGraph(config, consuming, { imageSize: S, positionEmbedding, dtype });
    tensors.clear();
    text = await createSession('text_model', textGraph, options);
    vision = await createSession('vision_model', visionGraph, options);
  }
  return new FgClipTowers({ ...base, logitScaleLog, unknownTensors: unknown, fromGraphCache: false, textTables: tables, text, vision });
}

interface TowerParts {
  readonly config: FgClipConfig;
  readonly preprocessConfig: PreprocessConfig;
  readonly tokenizer: ClipTokenizer;
  readonly imageSize: number;
  readonly logitScaleLog: number;
  readonly unknownTensors: readonly string[];
  readonly fromGraphCache: boolean;
  readonly textTables: TextTables;
  readonly text: ort.InferenceSession;
  readonly vision: ort.InferenceSession;
}

/** The two FG-CLIP v1 towers as ONNX Runtime sessions, with the text-input rules of the family. */
export class FgClipTowers implements FamilyModel {
  readonly config: FgClipConfig;
  readonly preprocessConfig: PreprocessConfig;
  readonly tokenizer: ClipTokenizer;
  readonly imageSize: number;
  readonly logitScaleLog: number;
  readonly unknownTensors: readonly string[];
  readonly fromGraphCache: boolean;
  readonly textTables: TextTables;
  private readonly text: ort.InferenceSession;
  private readonly vision: ort.InferenceSession;

  constructor(p: TowerParts) {
    this.config = p.config;
    this.preprocessConfig = p.preprocessConfig;
    this.tokenizer = p.tokenizer;
    this.imageSize = p.imageSize;
    this.logitScaleLog = p.logitScaleLog;
    this.unknownTensors = p.unknownTensors;
    this.fromGraphCache = p.fromGraphCache;
    this.textTables = p.textTables;
    this.text = p.text;
    this.vision = p.vision;
  }

  get embeddingDim(): number {
    return this.config.projection_dim;
  }

  get grid(): readonly [number, number] {
    const g = this.imageSize / this.config.vision_config.patch_size;
    return [g, g];
  }

  get textLengths(): { short: number; long: number } {
    return { short: this.config.text_config.max_position_embeddings, long: this.config.long_max_length };
  }

  async runVision(pixelValues: Float32Array, B: number): Promise<VisionFeatures> {
    const S = this.imageSize;
    const out = await runSession('vision_model', this.vision, { [VISION_INPUT]: new ort.Tensor('float32', pixelValues, [B, 3, S, S]) });
    const P = this.config.projection_dim;
    const [gh, gw] = this.grid;
    const N = gh * gw;
    const img = out[IMAGE_EMBEDS].data as Float32Array;
    const den = out[DENSE_EMBEDS].data as Float32Array;
    const image = Array.from({ length: B }, (_, b) => img.slice(b * P, (b + 1) * P));
    const dense = Array.from({ length: B }, (_, b) => Array.from({ length: N }, (_, n) => den.slice((b * N + n) * P, (b * N + n + 1) * P)));
    return { image, dense };
  }

  async runText(inputIds: readonly (readonly number[])[], mode: TextMode, cut: boolean): Promise<Float32Array[]> {
    const batch = prepareTextBatch(this.config, this.textTables, inputIds, mode, cut);
    const D = this.config.text_config.hidden_size;
    const out = await runSession('text_model', this.text, {
      [TEXT_INPUT_IDS]: new ort.Tensor('int64', batch.ids, [batch.B, batch.T]),
      [TEXT_POSITIONS]: new ort.Tensor('float32', batch.positions, [batch.T, D]),
      [TEXT_MASK]: new ort.Tensor('float32', batch.mask, [batch.T, batch.T]),
      [TEXT_POOL_INDEX]: new ort.Tensor('int64', batch.poolIndex, [batch.B]),
    });
    const f = out[mode === 'short' ? TEXT_EMBEDS_SHORT : TEXT_EMBEDS_LONG].data as Float32Array;
    const P = this.config.projection_dim;
    return Array.from({ length: batch.B }, (_, b) => f.slice(b * P, (b + 1) * P));
  }

  dispose(): void {
    void this.text.release().catch(() => undefined);
    void this.vision.release().catch(() => undefined);
  }
}
