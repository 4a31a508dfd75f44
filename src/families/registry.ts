/**
 * The model families fgclip can load, and the rule that picks one from config.json: the first `architectures` entry
 * a family claims, else (no `architectures`) the `model_type`. Adding a family = its folder + one line in FAMILIES.
 */
import { join } from 'node:path';
import { readConfigJson } from '../config/load.js';
import { isObject, show, type JsonObject } from '../config/fields.js';
import { FgClipError } from '../errors.js';
import { clipFamily } from './clip/index.js';
import { fgclipFamily } from './fgclip/index.js';
import { fgclip2Family } from './fgclip2/index.js';
import type { ModelFamily } from './types.js';

export const FAMILIES: readonly ModelFamily[] = [
  fgclipFamily, // FG-CLIP v1 (FGCLIPModel)
  fgclip2Family, // FG-CLIP 2 (Fgclip2Model)
  clipFamily, // plain CLIP (CLIPModel)
];

/** The family for a parsed config.json (`source` names the file in the error). */
export function pickFamily(config: JsonObject, source: string, families: readonly ModelFamily[] = FAMILIES): ModelFamily {
  const arch = config.architectures;
  if (arch !== undefined && arch !== null) {
    if (!Array.isArray(arch) || !arch.every((a) => typeof a === 'string')) {
      throw new FgClipError('CONFIG_INVALID', `${source}: architectures must be a list of class names (got ${show(arch)})`);
    }
    for (const a of arch) {
      const f = families.find((x) => x.architectures.includes(a));
      if (f) return f;
    }
  } else if (typeof config.model_type === 'string') {
    const f = families.find((x) => x.modelTypes.includes(config.model_type as string));
    if (f) return f;
  }
  const said = arch !== undefined && arch !== null ? `architectures ${show(arch)}` : `model_type ${show(config.model_type)}`;
  throw new FgClipError('CONFIG_INVALID', `${source}: no model family loads ${said}. Known families: ${describeFamilies(families)}.`);
}

/** "fgclip (FG-CLIP v1: architectures FGCLIPModel; model_type clip), …" */
export function describeFamilies(families: readonly ModelFamily[] = FAMILIES): string {
  return families
    .map(
      (f) =>
        `${f.id} (${f.description}: architectures ${f.architectures.join(', ')}${f.modelTypes.length ? `; model_type ${f.modelTypes.join(', ')} without architectures` : ''})`,
    )
    .join('; ');
}

/** Reads `<dir>/config.json` and picks its family. */
export async function familyOf(dir: string): Promise<{ family: ModelFamily; config: JsonObject; configPath: string }> {
  const configPath = join(dir, 'config.json');
  const json = await readConfigJson(configPath, 'config.json');
  if (!isObject(json)) throw new FgClipError('CONFIG_INVALID', `${configPath}: expected a JSON object at top level (got ${show(json)})`);
  return { family: pickFamily(json, configPath), config: json, configPath };
}
