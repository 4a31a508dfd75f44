/**
 * The checkpoint reading port (src/weights/checkpoint-files.ts) in the model worker: safetensors files of a
 * `FileProvider` (Hub mirror, URL, the user's files) read from their Blobs — headers by the parser Node uses, tensors
 * one at a time (F16/BF16 upcast exactly, non-finite values refused), table rows synchronously (FileReaderSync).
 * pytorch_model.bin is not read in the browser.
 */
import { FgClipError } from '../../errors.js';
import type { RawCheckpoint } from '../../weights/checkpoint.js';
import { isIgnorableBuffer, WEIGHT_FILES } from '../../weights/checkpoint.js';
import type { CheckpointFiles, SafetensorsFile } from '../../weights/checkpoint-files.js';
import { assertFinite, isLoadable, upcastHalf } from '../../weights/dtype.js';
import type { SafetensorsHeader } from '../../weights/safetensors.js';
import type { TensorMap } from '../../weights/types.js';
import { parseJson } from '../../config/fields.js';
import { safetensorsHeaderOf } from './blob-weights.js';
import type { FileProvider } from './sources.js';
import { fileReaderSync } from './worker-types.js';

async function readTensors(blob: Blob, header: SafetensorsHeader, where: string, only?: (name: string) => boolean): Promise<TensorMap> {
  const selected = header.tensors.filter((t) => !only || only(t.name));
  const bad = selected.filter((t) => !isLoadable(t.dtype));
  if (bad.length > 0)
    throw new FgClipError(
      'WEIGHTS_DTYPE',
      `${where}: unsupported tensor dtype for ${bad.map((t) => `${t.name} (${t.dtype})`).join(', ')}. Loadable dtypes: F32, F16, BF16; convert the checkpoint to one of them.`,
    );
  const out: TensorMap = new Map();
  for (const t of selected) {
    const dtype = t.dtype;
    if (!isLoadable(dtype)) continue; // checked above; narrows the type
    const bytes = await blob.slice(t.begin, t.end).arrayBuffer();
    if (bytes.byteLength !== t.end - t.begin)
      throw new FgClipError('WEIGHTS_MALFORMED', `${where}: tensor ${JSON.stringify(t.name)}: short read (file truncated?)`);
    let data: Float32Array;
    if (dtype === 'F32') data = new Float32Array(bytes);
    else {
      data = new Float32Array(bytes.byteLength / 2);
      upcastHalf(dtype, new Uint16Array(bytes), data);
    }
    assertFinite(data, where, t.name);
    out.set(t.name, { shape: t.shape, data, storedDtype: dtype });
  }
  return out;
}

export function blobCheckpointFiles(p: FileProvider): CheckpointFiles {
  const where = (f: string) => `${p.label}/${f}`;
  const file = async (name: string): Promise<SafetensorsFile> => {
    const blob = await p.get(name);
    if (!blob) throw new FgClipError('WEIGHTS_MISSING', `${where(name)}: cannot be read (no such file)`);
    const header = await safetensorsHeaderOf(blob, where(name));
    return {
      where: where(name),
      header,
      read: (only) => readTensors(blob, header, where(name), only),
      readSync: (begin, end) => new Uint8Array(fileReaderSync().readAsArrayBuffer(blob.slice(begin, end))),
      close: () => undefined,
    };
  };
  return {
    safetensors: file,
    async readAll(): Promise<RawCheckpoint> {
      const only = (n: string) => !isIgnorableBuffer(n);
      const single = await p.get('model.safetensors');
      if (single) {
        const f = await file('model.safetensors');
        return { tensors: await f.read(only), files: [f.where], where: f.where };
      }
      const idx = await p.get('model.safetensors.index.json');
      if (!idx)
        throw new FgClipError(
          'WEIGHTS_MISSING',
          `${p.label}: no model.safetensors or model.safetensors.index.json (looked for ${WEIGHT_FILES.join(', ')}; pytorch_model.bin is not read in the browser: convert the checkpoint to safetensors)`,
        );
      const index = where('model.safetensors.index.json');
      const map = (parseJson(await idx.text(), index, 'WEIGHTS_MALFORMED') as { weight_map?: unknown }).weight_map;
      if (!map || typeof map !== 'object') throw new FgClipError('WEIGHTS_MALFORMED', `${index}: no weight_map`);
      const tensors: TensorMap = new Map();
      const files: string[] = [];
      for (const f of [...new Set(Object.values(map as Record<string, unknown>))].sort()) {
        if (typeof f !== 'string' || f.includes('/') || f.includes('..'))
          throw new FgClipError('WEIGHTS_MALFORMED', `${index}: bad shard name ${JSON.stringify(f)}`);
        const shard = await file(f);
        files.push(shard.where);
        for (const [name, t] of await shard.read(only)) {
          if (tensors.has(name)) throw new FgClipError('WEIGHTS_MALFORMED', `${shard.where}: tensor ${name} is also in another shard`);
          tensors.set(name, t);
        }
      }
      return { tensors, files, where: index };
    },
  };
}
