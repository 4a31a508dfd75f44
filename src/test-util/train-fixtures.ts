/** Shared fixtures of the training tests: a tiny model shape and a small synthetic FineHARD dataset. */
import type { SmallModelSpec } from '../train/init.js';
import { generateSyntheticDataset } from '../train/synthetic/scenes.js';

/** 32 px, 4×4 patches, 16-wide towers: a few MB with the 49408-row token table. */
export const TEST_SPEC: SmallModelSpec = {
  imageSize: 32,
  patchSize: 8,
  visionHidden: 16,
  visionLayers: 2,
  visionHeads: 2,
  textHidden: 16,
  textLayers: 2,
  textHeads: 2,
  projectionDim: 8,
};

export async function syntheticData(dir: string, train = 10, heldOut = 4): Promise<{ train: string; heldOut: string }> {
  return generateSyntheticDataset({ out: dir, train, heldOut, seed: 5, imageSize: 40 });
}
