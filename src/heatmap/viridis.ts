/**
 * The viridis colormap as matplotlib applies it: a 256-entry lookup, no interpolation between entries.
 * Reference: matplotlib `Colormap.__call__` (colors.py) maps a float t to entry `int(t·N)` clipped to [0, N−1].
 */
import { FgClipError } from '../errors.js';
import { VIRIDIS_HEX } from './viridis-table.js';

/** [256·3] sRGB bytes, entry i at 3i..3i+2. */
export const VIRIDIS_LUT: Uint8Array = (() => {
  const hex = VIRIDIS_HEX.join('');
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < lut.length; i++) lut[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return lut;
})();

/** Entry of the 256-colour table for t (clamped to [0, 1]); t must be a number, not NaN. */
export function viridisIndex(t: number): number {
  return Math.min(255, Math.max(0, Math.floor(t * 256)));
}

/** t in [0, 1] → sRGB bytes; viridis(0) = #440154, viridis(1) = #fde725. Values outside [0, 1] clamp. */
export function viridis(t: number): [number, number, number] {
  if (typeof t !== 'number' || Number.isNaN(t)) {
    throw new FgClipError('INPUT_INVALID', `viridis: t must be a number in [0, 1] (got ${String(t)}). Pass a normalised value.`);
  }
  const i = 3 * viridisIndex(t);
  return [VIRIDIS_LUT[i], VIRIDIS_LUT[i + 1], VIRIDIS_LUT[i + 2]];
}
