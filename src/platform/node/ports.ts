/**
 * The Node platform's port implementations for one checkpoint folder, as a family loads with them: the composition
 * root of Node (`FgClip.load` uses it; so can a caller loading a family's model class directly).
 */
import type { FamilyPorts } from '../../families/types.js';
import type { ImageDecoder, InferenceRuntime } from '../ports.js';
import { nodeCheckpointFiles } from './checkpoint-files.js';
import { nodeFolder } from './folder.js';
import { nodeGraphStore } from './graph-store.js';
import { nodeImageDecoder } from './image-decoder.js';
import { nodeRuntime } from './runtime.js';

export interface NodePortOptions {
  /** default onnxruntime-node */
  readonly runtime?: InferenceRuntime;
  /** graph cache: true (default: the fgclip cache folder), a folder, or false (build in memory) */
  readonly graphCache?: boolean | string;
  /** default sharp (`nodeImageDecoder`) */
  readonly decoder?: ImageDecoder;
}

export function nodePorts(dir: string, o: NodePortOptions = {}): Required<Omit<FamilyPorts, 'graphStore'>> & FamilyPorts {
  const cache = o.graphCache ?? true;
  return {
    dir,
    folder: nodeFolder(dir),
    checkpoint: nodeCheckpointFiles(dir),
    runtime: o.runtime ?? nodeRuntime,
    graphStore: cache === false ? undefined : nodeGraphStore(dir, typeof cache === 'string' ? cache : undefined),
    decoder: o.decoder ?? nodeImageDecoder,
  };
}
