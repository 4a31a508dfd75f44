/** Shape-checked access to loaded tensors, the `WeightSource` the graph builders read from. */
import { FgClipError } from '../errors.js';
import type { WeightSource } from '../graph/blocks.js';
import type { TensorMap } from './types.js';

/** `consume` removes each tensor from the map when it is read (so the checkpoint is not held twice). */
export function weightSource(t: TensorMap, consume = false): WeightSource {
  return {
    get(name, shape) {
      const x = t.get(name);
      if (consume) t.delete(name);
      if (!x) throw new FgClipError('WEIGHTS_MISSING', `checkpoint: tensor ${name} is missing`);
      const n = shape.reduce((a, b) => a * b, 1);
      if (x.data.length !== n)
        throw new FgClipError('WEIGHTS_SHAPE', `checkpoint: tensor ${name} has shape [${x.shape.join(', ')}], expected [${shape.join(', ')}]`);
      return x.data;
    },
  };
}
