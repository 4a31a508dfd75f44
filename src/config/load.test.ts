import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goldenPath, readGoldenJson } from '../test-util/goldens.js';
import { isFgClipError } from '../errors.js';
import { loadConfig, parseConfig } from './load.js';
import { loadPreprocessConfig, parsePreprocessConfig } from './preprocessor.js';
import type { FgClipConfig } from './types.js';

type Json = Record<string, any>;
const tiny = (): Json => structuredClone(readGoldenJson<Json>('fgclip-tiny', 'config.json'));
const tmp = mkdtempSync(join(tmpdir(), 'fgclip-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Asserts CONFIG_INVALID whose message names the file and matches `re`. */
function rejects(fn: () => unknown, re: RegExp, source = 'cfg.json'): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isFgClipError(e), `expected FgClipError, got ${String(e)}`);
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.ok(e.message.startsWith(`${source}: `), e.message);
    assert.match(e.message, re);
    return true;
  });
}

describe('parseConfig on the golden checkpoints', () => {
  test('fgclip-tiny config.json: every field equals the file (gelu, 32px/patch 8, projection 24)', async () => {
    const c = await loadConfig(goldenPath('fgclip-tiny'));
    assert.deepEqual(c, {
      projection_dim: 24,
      logit_scale_init_value: 2.6592,
      text_config: {
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        layer_norm_eps: 1e-5,
        hidden_act: 'gelu',
        vocab_size: 49408,
        max_position_embeddings: 77,
        bos_token_id: 49406,
        eos_token_id: 49407,
        pad_token_id: 49407,
      },
      vision_config: {
        hidden_size: 48,
        intermediate_size: 96,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        layer_norm_eps: 1e-5,
        hidden_act: 'gelu',
        image_size: 32,
        patch_size: 8,
        num_channels: 3,
      },
      long_max_length: 248,
      long_keep_length: 20,
    } satisfies FgClipConfig);
  });

  test('fgclip-small config.json: quick_gelu, 96px/patch 16, 3 layers, projection 64', async () => {
    const c = await loadConfig(goldenPath('fgclip-small'));
    assert.equal(c.projection_dim, 64);
    assert.equal(c.text_config.hidden_act, 'quick_gelu');
    assert.equal(c.vision_config.hidden_act, 'quick_gelu');
    assert.equal(c.vision_config.image_size, 96);
    assert.equal(c.vision_config.patch_size, 16);
    assert.equal(c.text_config.num_hidden_layers, 3);
    assert.equal(c.text_config.hidden_size, 128);
  });
});

describe('parseConfig defaults and FG-CLIP overrides', () => {
  test('fields omitted by HF diff-mode saving take CLIPTextConfig/CLIPVisionConfig defaults', () => {
    const c = parseConfig({ text_config: {}, vision_config: {} }, 'cfg.json');
    assert.equal(c.projection_dim, 512);
    assert.equal(c.text_config.hidden_size, 512);
    assert.equal(c.text_config.num_attention_heads, 8);
    assert.equal(c.text_config.max_position_embeddings, 77);
    assert.equal(c.text_config.hidden_act, 'quick_gelu');
    assert.equal(c.vision_config.hidden_size, 768);
    assert.equal(c.vision_config.patch_size, 32);
    assert.equal(c.vision_config.image_size, 224);
    assert.equal(c.vision_config.layer_norm_eps, 1e-5);
  });

  test('OpenAI special ids (bos 0 / eos 2 / pad 1) are replaced by the ids FGCLIPModel forces (49406/49407/49407)', () => {
    const j = tiny();
    Object.assign(j.text_config, { bos_token_id: 0, eos_token_id: 2, pad_token_id: 1 });
    const t = parseConfig(j, 'cfg.json').text_config;
    assert.deepEqual([t.bos_token_id, t.eos_token_id, t.pad_token_id], [49406, 49407, 49407]);
  });

  test('text_config_dict is laid over text_config (as CLIPConfig.__init__ does)', () => {
    const j = tiny();
    j.text_config_dict = { hidden_size: 64, num_attention_heads: 4 };
    const t = parseConfig(j, 'cfg.json').text_config;
    assert.equal(t.hidden_size, 64);
    assert.equal(t.num_attention_heads, 4);
    assert.equal(t.intermediate_size, 64);
  });
});

describe('parseConfig rejects invalid configs with CONFIG_INVALID naming file and field', () => {
  test('missing text_config', () => {
    const j = tiny();
    delete j.text_config;
    rejects(() => parseConfig(j, 'cfg.json'), /text_config is required/);
  });
  test('top level not an object', () => rejects(() => parseConfig([1, 2], 'cfg.json'), /JSON object/));
  test('hidden_size not divisible by num_attention_heads', () => {
    const j = tiny();
    j.vision_config.num_attention_heads = 5;
    rejects(() => parseConfig(j, 'cfg.json'), /vision_config\.hidden_size must be divisible by num_attention_heads \(got 48 and 5\)/);
  });
  test('unknown hidden_act lists the valid options', () => {
    const j = tiny();
    j.text_config.hidden_act = 'relu';
    rejects(() => parseConfig(j, 'cfg.json'), /text_config\.hidden_act must be one of "quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh" \(got "relu"\)/);
  });
  test('string where a number is expected', () => {
    const j = tiny();
    j.text_config.num_hidden_layers = '2';
    rejects(() => parseConfig(j, 'cfg.json'), /text_config\.num_hidden_layers must be an integer in 1\.\.256 \(got "2"\)/);
  });
  test('non-integer, zero and negative sizes', () => {
    for (const v of [1.5, 0, -3]) {
      const j = tiny();
      j.vision_config.intermediate_size = v;
      rejects(() => parseConfig(j, 'cfg.json'), /vision_config\.intermediate_size must be an integer in 1\.\.65536/);
    }
  });
  test('image_size not a multiple of patch_size', () => {
    const j = tiny();
    j.vision_config.image_size = 36;
    rejects(() => parseConfig(j, 'cfg.json'), /vision_config\.image_size must be a multiple of patch_size \(got 36 and 8\)/);
  });
  test('vocab_size too small for the forced special ids', () => {
    const j = tiny();
    j.text_config.vocab_size = 1000;
    rejects(() => parseConfig(j, 'cfg.json'), /text_config\.vocab_size must exceed bos_token_id/);
  });
  test('special id of the wrong type', () => {
    const j = tiny();
    j.text_config.eos_token_id = 'eos';
    rejects(() => parseConfig(j, 'cfg.json'), /text_config\.eos_token_id must be an integer in 0\.\.2097152/);
  });
  test('max_position_embeddings below 2', () => {
    const j = tiny();
    j.text_config.max_position_embeddings = 1;
    rejects(() => parseConfig(j, 'cfg.json'), /text_config\.max_position_embeddings must be an integer in 2\.\.65536/);
  });
  test('per-tower projection_dim that disagrees with the top level', () => {
    const j = tiny();
    j.vision_config.projection_dim = 32;
    rejects(() => parseConfig(j, 'cfg.json'), /vision_config\.projection_dim must equal the top-level projection_dim \(expected 24/);
  });
  test('layer_norm_eps not positive', () => {
    const j = tiny();
    j.text_config.layer_norm_eps = 0;
    rejects(() => parseConfig(j, 'cfg.json'), /text_config\.layer_norm_eps must be a finite number > 0/);
  });
  test('loadConfig: absent file and invalid JSON name the file', async () => {
    const dir = join(tmp, 'bad-json');
    await assert.rejects(loadConfig(dir), (e: unknown) => isFgClipError(e) && e.code === 'CONFIG_INVALID' && e.message.includes(join(dir, 'config.json')));
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{"text_config": ');
    await assert.rejects(loadConfig(dir), (e: unknown) => isFgClipError(e) && e.code === 'CONFIG_INVALID' && /not valid JSON/.test(e.message));
  });
});

describe('preprocessor_config.json', () => {
  const cfgTiny = () => loadConfig(goldenPath('fgclip-tiny'));

  test('golden fgclip-tiny preprocessor: shortest_edge 32, crop 32x32, bicubic, CLIP mean/std, no warnings', async () => {
    const warnings: string[] = [];
    const p = await loadPreprocessConfig(goldenPath('fgclip-tiny'), await cfgTiny(), (m) => warnings.push(m));
    assert.deepEqual(p, {
      shortest_edge: 32,
      crop_height: 32,
      crop_width: 32,
      do_resize: true,
      do_center_crop: true,
      do_rescale: true,
      rescale_factor: 0.00392156862745098,
      do_normalize: true,
      image_mean: [0.48145466, 0.4578275, 0.40821073],
      image_std: [0.26862954, 0.26130258, 0.27577711],
      resample: 3,
    });
    assert.deepEqual(warnings, []);
  });

  test('absent file: CLIPImageProcessor defaults with size and crop = vision image_size', async () => {
    const small = await loadConfig(goldenPath('fgclip-small'));
    const p = await loadPreprocessConfig(join(tmp, 'nothing-here'), small, () => assert.fail('no warning expected'));
    assert.equal(p.shortest_edge, 96);
    assert.equal(p.crop_height, 96);
    assert.equal(p.crop_width, 96);
    assert.equal(p.rescale_factor, 1 / 255);
    assert.equal(p.resample, 3);
  });

  test('legacy numeric size and crop_size are read as shortest edge and square crop', async () => {
    const p = parsePreprocessConfig({ size: 32, crop_size: 32 }, 'pre.json', await cfgTiny(), () => undefined);
    assert.deepEqual([p.shortest_edge, p.crop_height, p.crop_width], [32, 32, 32]);
  });

  test('crop size different from image_size is CONFIG_INVALID', async () => {
    const j = readGoldenJson<Json>('fgclip-tiny', 'preprocessor_config.json');
    j.crop_size = { height: 224, width: 224 };
    const c = await cfgTiny();
    rejects(
      () => parsePreprocessConfig(j, 'pre.json', c, () => undefined),
      /crop_size must match vision_config\.image_size \(expected 32x32, got 224x224\)/,
      'pre.json',
    );
  });

  test('fields missing from the file fall back to CLIPImageProcessor defaults (224 crop), which then fails the cross-check', async () => {
    const c = await cfgTiny();
    rejects(
      () => parsePreprocessConfig({}, 'pre.json', c, () => undefined),
      /crop_size must match vision_config\.image_size \(expected 32x32, got 224x224\)/,
      'pre.json',
    );
  });

  test('resample other than 3 (bicubic) is CONFIG_INVALID', async () => {
    const j = readGoldenJson<Json>('fgclip-tiny', 'preprocessor_config.json');
    j.resample = 2;
    const c = await cfgTiny();
    rejects(() => parsePreprocessConfig(j, 'pre.json', c, () => undefined), /resample must be 3/, 'pre.json');
  });

  test('size as {height, width}, bad mean length and non-positive std are CONFIG_INVALID', async () => {
    const c = await cfgTiny();
    const base = readGoldenJson<Json>('fgclip-tiny', 'preprocessor_config.json');
    rejects(() => parsePreprocessConfig({ ...base, size: { height: 32, width: 32 } }, 'pre.json', c), /size must hold shortest_edge/, 'pre.json');
    rejects(() => parsePreprocessConfig({ ...base, image_mean: [0.5, 0.5] }, 'pre.json', c), /image_mean must be a list of 3 finite numbers/, 'pre.json');
    rejects(() => parsePreprocessConfig({ ...base, image_std: [0.5, 0, 0.5] }, 'pre.json', c), /image_std must be > 0/, 'pre.json');
    rejects(() => parsePreprocessConfig({ ...base, do_resize: 'yes' }, 'pre.json', c), /do_resize must be true or false/, 'pre.json');
  });

  test('shortest_edge larger than the crop is valid but warned about; do_center_crop false warns', async () => {
    const c = await cfgTiny();
    const base = readGoldenJson<Json>('fgclip-tiny', 'preprocessor_config.json');
    const w1: string[] = [];
    const p = parsePreprocessConfig({ ...base, size: { shortest_edge: 40 } }, 'pre.json', c, (m) => w1.push(m));
    assert.equal(p.shortest_edge, 40);
    assert.equal(w1.length, 1);
    assert.match(w1[0], /^pre\.json: size\.shortest_edge 40 differs from vision_config\.image_size 32/);
    const w2: string[] = [];
    parsePreprocessConfig({ ...base, do_center_crop: false }, 'pre.json', c, (m) => w2.push(m));
    assert.equal(w2.length, 1);
    assert.match(w2[0], /do_center_crop is false/);
  });
});

describe('config.json upper bounds and special files (hostile input)', () => {
  const cases: [string, (j: Json) => void, RegExp][] = [
    ['1e9 text layers', (j) => (j.text_config.num_hidden_layers = 1e9), /text_config\.num_hidden_layers must be an integer in 1\.\.256 \(got 1000000000\)/],
    ['vision hidden 1e6', (j) => (j.vision_config.hidden_size = 1e6), /vision_config\.hidden_size must be an integer in 1\.\.16384/],
    ['heads 4096', (j) => (j.vision_config.num_attention_heads = 4096), /num_attention_heads must be an integer in 1\.\.256/],
    ['MLP 1e7', (j) => (j.text_config.intermediate_size = 1e7), /intermediate_size must be an integer in 1\.\.65536/],
    ['image 1e5', (j) => (j.vision_config.image_size = 100000), /image_size must be an integer in 1\.\.4096/],
    ['4096 px with 1 px patches', (j) => ((j.vision_config.image_size = 4096), (j.vision_config.patch_size = 1)), /patch_size gives 16777216 patch tokens/],
    ['vocab 1e8', (j) => (j.text_config.vocab_size = 1e8), /vocab_size must be an integer in 1\.\.2097152/],
    ['positions 1e7', (j) => (j.text_config.max_position_embeddings = 1e7), /max_position_embeddings must be an integer in 2\.\.65536/],
    ['projection 1e6', (j) => (j.projection_dim = 1e6), /projection_dim must be an integer in 1\.\.16384/],
    ['channels 1000', (j) => (j.vision_config.num_channels = 1000), /num_channels must be an integer in 1\.\.16/],
    ['bos id 1e12', (j) => (j.text_config.bos_token_id = 1e12), /bos_token_id must be an integer in 0\.\.2097152/],
  ];
  for (const [name, mutate, re] of cases) {
    test(`${name}: CONFIG_INVALID naming the field and the bound`, () => {
      const j = tiny();
      mutate(j);
      rejects(() => parseConfig(j, 'cfg.json'), re);
    });
  }

  test('preprocessor_config.json crop 1e6 px: CONFIG_INVALID naming the bound', () => {
    const config = parseConfig(tiny(), 'cfg.json');
    rejects(() => parsePreprocessConfig({ crop_size: 1e6 }, 'pre.json', config), /crop_size must be an integer in 1\.\.4096/, 'pre.json');
  });

  for (const [name, make] of [
    ['a directory', (p: string) => mkdirSync(p)],
    ['a dangling symlink', (p: string) => symlinkSync(join(tmp, 'nowhere-at-all'), p)],
    ['a symlink to /dev/zero', (p: string) => symlinkSync('/dev/zero', p)],
    ['a FIFO', (p: string) => execFileSync('mkfifo', [p])],
  ] as const) {
    test(`config.json that is ${name}: CONFIG_INVALID before opening (no hang)`, async () => {
      const dir = mkdtempSync(join(tmp, 'special-'));
      make(join(dir, 'config.json'));
      await assert.rejects(loadConfig(dir), (e: unknown) => isFgClipError(e) && e.code === 'CONFIG_INVALID' && /config\.json/.test(e.message));
    });
  }

  test('preprocessor_config.json that is a FIFO or a dangling symlink: CONFIG_INVALID, not defaults and not a hang', async () => {
    const config = parseConfig(tiny(), 'cfg.json');
    for (const make of [(p: string) => execFileSync('mkfifo', [p]), (p: string) => symlinkSync(join(tmp, 'gone'), p)]) {
      const dir = mkdtempSync(join(tmp, 'pre-'));
      make(join(dir, 'preprocessor_config.json'));
      await assert.rejects(loadPreprocessConfig(dir, config), (e: unknown) => isFgClipError(e) && e.code === 'CONFIG_INVALID');
    }
  });

  test('a 17 MB config.json is refused by size before being read', async () => {
    const dir = mkdtempSync(join(tmp, 'big-'));
    writeFileSync(join(dir, 'config.json'), Buffer.alloc(17 << 20, 0x20));
    await assert.rejects(loadConfig(dir), (e: unknown) => isFgClipError(e) && e.code === 'CONFIG_INVALID' && /more than the 16777216 allowed/.test(e.message));
  });
});
