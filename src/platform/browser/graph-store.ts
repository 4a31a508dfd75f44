/**
 * The graph cache storage port (src/platform/ports.ts `GraphStore`) in the browser, for the families that load
 * through the family seam (FG-CLIP 2, plain CLIP; FG-CLIP v1 keeps its own OPFS cache in model.ts). In OPFS:
 *   fgclip/family-graphs/<key>.json                 the published entry: its folder, meta, and every file's size and sha256
 *   fgclip/family-graphs/<key>-<time>-<random>/     the folder the entry was staged in: text.onnx, text.weights.bin,
 *                                                   vision-<S>.onnx, vision-<S>.weights.bin, tables.bin
 * The key hashes the model's content identity (the source's `identity()`), the graph layout version, the dtype and
 * the resolution.
 *
 * Staging and publishing: a load writes a fresh folder (weights streamed through sync access handles, hashed as they
 * are written), then publishes the entry by writing `<key>.json` through a writable stream, which the browser
 * replaces in one step when the stream closes. A folder without a published `<key>.json` naming it (a reload or a
 * crash at any moment of staging) is never read, and is removed by a later load once it is a day old.
 *
 * Integrity: a read checks that every file `<key>.json` lists is there with its size and sha256 (the whole entry is
 * hashed on every read; there is no memo of earlier checks yet). Anything else is reported through `warn`, the entry
 * is removed (its `<key>.json` first), and the read says undefined, so the family rebuilds it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { GRAPH_LAYOUT_VERSION, isGraphCacheRecord } from '../../graph/layout-version.js';
import type { BuiltModel } from '../../graph/onnx-builder.js';
import type { GraphCacheMeta, GraphStaging, GraphStore, GraphStoreEntry, StoredGraphs } from '../ports.js';
import { blobBytes, WeightMeter } from './external-data.js';
import { dirPath, HashingSink, PartialWriter, sha256Blob } from './store.js';
import { syncAccessHandle } from './worker-types.js';

const FOLDER = 'family-graphs';
/** A staging folder nobody published is removed after this long (another tab may still be writing it before). */
const STALE_MS = 24 * 3600 * 1000;
const STAGED = /^([0-9a-f]{32})-(\d+)-[0-9a-f-]+$/;

interface EntryFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}
interface Published {
  readonly version: number;
  readonly folder: string;
  readonly meta: GraphCacheMeta;
  readonly files: readonly EntryFile[];
}

const modelFile = (part: string) => `${part}.onnx`;
const weightsFile = (part: string) => `${part}.weights.bin`;
const TABLES = 'tables.bin';

function isPublished(x: unknown): x is Published {
  if (typeof x !== 'object' || x === null) return false;
  const p = x as Published;
  return p.version === GRAPH_LAYOUT_VERSION && typeof p.folder === 'string' && STAGED.test(p.folder) && isGraphCacheRecord(p.files, p.meta, true);
}

type Entries = { entries(): AsyncIterable<[string, FileSystemHandle]> };

async function fileIn(d: FileSystemDirectoryHandle, name: string): Promise<File | undefined> {
  try {
    return await (await d.getFileHandle(name)).getFile();
  } catch {
    return undefined;
  }
}

async function writeWhole(d: FileSystemDirectoryHandle, name: string, bytes: Uint8Array): Promise<void> {
  const h = await d.getFileHandle(name, { create: true });
  const ws = await h.createWritable();
  try {
    await ws.write(bytes.slice());
  } catch (e) {
    await ws.abort().catch(() => undefined);
    throw e;
  }
  await ws.close(); // the file is replaced in one step here
}

/** Removes staging folders older than a day that no published entry names. */
async function removeStale(root: FileSystemDirectoryHandle): Promise<void> {
  const names: string[] = [];
  for await (const [name] of (root as unknown as Entries).entries()) names.push(name);
  for (const name of names) {
    const m = STAGED.exec(name);
    if (!m || Number(m[2]) > Date.now() - STALE_MS) continue;
    const pub = await fileIn(root, `${m[1]}.json`);
    const named =
      pub &&
      (await pub.text().then(
        (t) => (JSON.parse(t) as { folder?: unknown }).folder,
        () => undefined,
      ));
    if (named !== name) await root.removeEntry(name, { recursive: true }).catch(() => undefined);
  }
}

/**
 * The OPFS graph store of a model whose content identity is `identity` (FileProvider.identity(): Hub commit, URL
 * folder weight hashes, picked file name/size/date).
 */
export function opfsGraphStore(identity: string): GraphStore {
  return {
    async entry(parts): Promise<GraphStoreEntry> {
      const key = bytesToHex(sha256(utf8ToBytes(JSON.stringify({ identity, v: GRAPH_LAYOUT_VERSION, ...parts })))).slice(0, 32);
      const root = (await dirPath([FOLDER], true)) as FileSystemDirectoryHandle;
      await removeStale(root).catch(() => undefined);
      const location = `OPFS fgclip/${FOLDER}/${key}`;
      const S = parts.imageSize;
      const graphParts = ['text', `vision-${S}`];

      /** removes the published entry (its `<key>.json` first, so it is never seen half-removed), then its folder */
      const discard = async (folder?: string) => {
        await root.removeEntry(`${key}.json`).catch(() => undefined);
        if (folder) await root.removeEntry(folder, { recursive: true }).catch(() => undefined);
      };

      /** the two graphs of `folder`: the ModelProto in memory, the weights read from OPFS one initializer at a time */
      const sources = async (dir: FileSystemDirectoryHandle, models?: ReadonlyMap<string, Uint8Array>) => {
        const open = async (part: string): Promise<BuiltModel> => {
          const model = models?.get(part) ?? new Uint8Array(await ((await fileIn(dir, modelFile(part))) as File).arrayBuffer());
          const w = (await fileIn(dir, weightsFile(part))) as File;
          return { model, weights: blobBytes(w, new WeightMeter()) };
        };
        return { text: await open('text'), vision: await open(`vision-${S}`) };
      };

      return {
        location,
        async read(warn = (m) => console.warn(`FgClipWarning: ${m}`)): Promise<StoredGraphs | undefined> {
          const pubFile = await fileIn(root, `${key}.json`);
          if (!pubFile) return undefined; // nothing published yet
          const damaged = async (problem: string, folder?: string) => {
            warn(`graph cache: ${location} is damaged (${problem}); rebuilding it`);
            await discard(folder);
            return undefined;
          };
          let pub: unknown;
          try {
            pub = pubFile.size <= 1 << 20 ? JSON.parse(await pubFile.text()) : undefined;
          } catch {
            pub = undefined;
          }
          if (!isPublished(pub)) return damaged(`${key}.json is not an entry of this layout version`);
          let dir: FileSystemDirectoryHandle;
          try {
            dir = await root.getDirectoryHandle(pub.folder);
          } catch {
            return damaged(`its folder ${pub.folder} is missing`);
          }
          const needed = [TABLES, ...graphParts.flatMap((p) => [modelFile(p), weightsFile(p)])];
          const missing = needed.filter((n) => !pub.files.some((f) => f.path === n));
          if (missing.length > 0) return damaged(`${key}.json does not list ${missing.join(', ')}`, pub.folder);
          for (const f of pub.files) {
            const file = await fileIn(dir, f.path);
            if (!file) return damaged(`${f.path} is missing`, pub.folder);
            if (file.size !== f.size) return damaged(`${f.path} has ${file.size} bytes, the entry says ${f.size}`, pub.folder);
            if ((await sha256Blob(file)) !== f.sha256) return damaged(`${f.path} does not match its sha256 (damaged in storage)`, pub.folder);
          }
          const n = pub.meta.tableSizes[0] + pub.meta.tableSizes[1];
          const tablesFile = (await fileIn(dir, TABLES)) as File;
          if (tablesFile.size !== n * 4) return damaged(`${TABLES} has ${tablesFile.size} bytes, the meta says ${n * 4}`, pub.folder);
          const tables = new Float32Array(await tablesFile.arrayBuffer());
          return { meta: pub.meta, tables, ...(await sources(dir)) };
        },

        async stage(): Promise<GraphStaging | undefined> {
          const folder = `${key}-${Date.now()}-${crypto.randomUUID()}`;
          let dir: FileSystemDirectoryHandle;
          const sinks = new Map<string, HashingSink>();
          try {
            dir = await root.getDirectoryHandle(folder, { create: true });
            for (const part of graphParts) {
              const h = await dir.getFileHandle(weightsFile(part), { create: true });
              sinks.set(part, new HashingSink(new PartialWriter(h, await syncAccessHandle(h))));
            }
          } catch {
            for (const s of sinks.values()) s.w.closeQuietly();
            await root.removeEntry(folder, { recursive: true }).catch(() => undefined);
            return undefined;
          }
          const models = new Map<string, Uint8Array>();
          let published = false;
          const closeAll = () => {
            for (const s of sinks.values()) s.w.closeQuietly();
          };
          return {
            sink(part) {
              const s = sinks.get(part);
              if (!s) throw new Error(`graph cache: no staged part ${part}`);
              return s;
            },
            writeModel(part, model) {
              models.set(part, model.model);
            },
            async commit(tables, meta) {
              const files: EntryFile[] = [];
              for (const [part, s] of sinks) {
                s.w.close();
                files.push({ path: weightsFile(part), size: s.bytes, sha256: s.digest() });
              }
              const put = async (path: string, bytes: Uint8Array) => {
                await writeWhole(dir, path, bytes);
                files.push({ path, size: bytes.length, sha256: bytesToHex(sha256(bytes)) });
              };
              for (const part of graphParts) {
                const m = models.get(part);
                if (!m) throw new Error(`graph cache: the ${part} graph was not written`);
                await put(modelFile(part), m);
              }
              const n = tables.reduce((a, t) => a + t.length, 0);
              const all = new Float32Array(n);
              let o = 0;
              for (const t of tables) {
                all.set(t, o);
                o += t.length;
              }
              await put(TABLES, new Uint8Array(all.buffer));
              const pub: Published = { version: GRAPH_LAYOUT_VERSION, folder, meta, files };
              // publishing: <key>.json replaced in one step; a later read trusts the entry only after checking it. An
              // entry another tab published meanwhile is not removed here (that tab may still read it): its folder is
              // no longer named and goes with the stale ones
              await writeWhole(root, `${key}.json`, utf8ToBytes(JSON.stringify(pub)));
              published = true;
              return sources(dir, models);
            },
            release() {
              models.clear();
            },
            abort() {
              closeAll();
              if (!published) void root.removeEntry(folder, { recursive: true }).catch(() => undefined);
            },
          };
        },
      };
    },
  };
}
