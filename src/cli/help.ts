/**
 * Help text of every command's options, in one place so that the command modules keep plain option tables
 * (`{ type, short?, multiple? }`). `--help` looks an option up as: the table entry's own `description` (if a command
 * writes one), then COMMAND_OPTION_DOCS[command][option] (for "eval fgovd" also COMMAND_OPTION_DOCS.eval), then
 * OPTION_DOCS[option] (options several commands share). `default` is shown as "(default: …)"; the commands apply
 * their defaults themselves, so a default written here must say what the code does (src/cli/main.test.ts runs every
 * command's --help and fails on an option without a description).
 */

export interface OptionDoc {
  readonly description: string;
  readonly default?: string;
  /** Placeholder in --help (`--model <DIR|REPO>`); defaults to the option name in capitals. */
  readonly valueName?: string;
}
type Docs = Readonly<Record<string, OptionDoc>>;

/** Options that mean the same for every command that takes them. */
export const OPTION_DOCS: Docs = {
  model: { description: 'model: a local folder in the Hugging Face layout, or a Hub id such as qihoo360/fg-clip-base', valueName: 'DIR|REPO' },
  revision: { description: 'Hub revision (branch, tag or commit)', default: 'main', valueName: 'REV' },
  threads: { description: 'ONNX Runtime intra-op threads', default: 'all cores', valueName: 'N' },
  dtype: { description: 'weight precision: fp32, fp16 or int8', default: 'fp32', valueName: 'fp32|fp16|int8' },
  'image-size': { description: 'override the input resolution (pixels, square)', default: "the model's", valueName: 'N' },
  preprocess: { description: 'resize rule: squash (the reference) or crop (shorter side, centre crop)', default: 'squash', valueName: 'squash|crop' },
  'max-pixels': { description: 'refuse images with more decoded pixels than this', default: '178956970, as Pillow', valueName: 'N' },
  'auto-orient': { description: 'apply the EXIF orientation before resizing (the reference ignores it)' },
  quiet: { description: 'no progress or warnings on stderr' },
  json: { description: 'print one JSON document on stdout (the documented contract); errors as {"error": {code, message}}' },
  jsonl: { description: 'print one JSON object per line as results are ready' },
  text: { description: 'a text', valueName: 'TEXT' },
  'texts-file': { description: 'read texts from a file, one per line ("-" for stdin)', valueName: 'FILE' },
  image: { description: 'an image file', valueName: 'FILE' },
  long: { description: 'long-text mode (248 tokens)' },
  short: { description: 'short-text mode (77 tokens)' },
  raw: { description: 'unnormalized features (no L2 normalization)' },
  npy: { description: 'also write the vectors as a float32 .npy matrix (one row per input)', valueName: 'FILE' },
  paths: { description: 'with --npy: write the input of each .npy row to this file, one per line', valueName: 'FILE' },
  'cache-dir': { description: 'embedding cache folder', default: '$FGCLIP_CACHE or ~/.cache/fgclip', valueName: 'DIR' },
  'no-cache': { description: 'do not read or write the embedding cache' },
  labels: { description: 'comma-separated labels ("a cat,a dog")', valueName: 'LIST' },
  'labels-file': { description: 'labels from a file, one per line', valueName: 'FILE' },
  templates: { description: 'prompt templates: none, imagenet (the 80) or a file with {} for the label', valueName: 'none|imagenet|FILE' },
  top: { description: 'show the K best', valueName: 'K' },
  out: { description: 'output file', valueName: 'FILE' },
  'batch-size': { description: 'images per model batch', valueName: 'N' },
  force: { description: 'overwrite existing output' },
  collection: { description: 'collection: a folder, or s3://bucket/prefix (with --storage-option)', valueName: 'PATH' },
  'storage-option': { description: 'LanceDB storage option for remote collections (also FGCLIP_STORAGE_OPTIONS as JSON)', valueName: 'KEY=VALUE' },
  queue: { description: 'Redis address of the job queue', valueName: 'redis://HOST:PORT' },
  'queue-name': { description: 'queue name (several indexes can share one Redis)', default: 'fgclip', valueName: 'NAME' },
  'lock-ms': {
    description: 'a job not renewed for this long goes back to the queue (a crashed worker)',
    default: '$FGCLIP_QUEUE_LOCK_MS or 30000',
    valueName: 'MS',
  },
  'chunk-size': { description: 'samples per forward/backward chunk (bounds memory; the gradients are the same)', default: 'the whole batch', valueName: 'N' },
  stage: { description: 'training stage: 1 (global contrastive) or 2 (+ regions and hard negatives)', valueName: '1|2' },
  seed: { description: 'random seed', valueName: 'N' },
};

/** Per-command texts (and options only one command has). */
export const COMMAND_OPTION_DOCS: Readonly<Record<string, Docs>> = {
  tokenize: {
    'max-length': {
      description: 'sequence length to pad/truncate to (FG-CLIP: 77 short, 248 long; FG-CLIP 2: 64, 196)',
      default: '77, or 64 for FG-CLIP 2',
      valueName: 'N',
    },
    'no-padding': { description: 'print the ids without padding to --max-length' },
  },
  embed: {
    text: { description: 'a text to embed; "-" reads texts from stdin, one per line', valueName: 'TEXT' },
    image: {
      description: 'an image file, a folder (its images, recursively) or a quoted glob such as "photos/*.jpg"; also as plain arguments',
      valueName: 'PATH',
    },
    long: { description: 'long-text mode for every text (FG-CLIP: 248 tokens)' },
    short: { description: 'short-text mode for every text (FG-CLIP: 77 tokens)' },
    walk: {
      description: 'FG-CLIP 2 text walk: short (64 tokens), box (region texts), long (196) or auto (short if it fits, else long)',
      default: 'auto',
      valueName: 'short|box|long|auto',
    },
    jsonl: { description: 'print {"index", "text"|"image", "embedding", …} per line as each batch of 16 is done' },
  },
  dense: {
    image: { description: 'the image (or give it as the first argument)', valueName: 'FILE' },
    npy: { description: 'also write the patch features as a float32 .npy matrix (one row per patch)', valueName: 'FILE' },
  },
  regions: {
    image: { description: 'the image (or give it as the first argument)', valueName: 'FILE' },
    box: { description: 'a box in pixels x1,y1,x2,y2', valueName: 'x1,y1,x2,y2' },
    boxes: { description: 'boxes from a file: JSON ([[x1,y1,x2,y2],…] or [{bbox},…]) or one box per line', valueName: 'FILE' },
    'box-format': { description: 'how --boxes numbers are read: xyxy or xywh (COCO)', default: 'xyxy', valueName: 'xyxy|xywh' },
    labels: { description: 'rank these comma-separated labels per box instead of printing features', valueName: 'LIST' },
  },
  classify: {
    templates: {
      description: 'prompt templates: none (the label is the prompt), imagenet (the 80) or a file with {} for the label',
      default: 'none',
      valueName: 'none|imagenet|FILE',
    },
    top: { description: 'labels shown per image', default: '5 in the table, all with --json/--jsonl', valueName: 'K' },
    jsonl: { description: 'print {"image", "labels", "scoring"} per line as images finish' },
    'batch-size': { description: 'images per model batch', default: '16', valueName: 'N' },
  },
  search: {
    text: { description: 'the query text', valueName: 'TEXT' },
    image: { description: 'the query image', valueName: 'FILE' },
    top: { description: 'results shown', default: '10', valueName: 'K' },
    'batch-size': { description: 'images per model batch while indexing a folder', default: '16', valueName: 'N' },
    collection: { description: 'search this collection (made by fgclip index) instead of a folder', valueName: 'PATH' },
    regions: { description: 'with --collection: also the best box of each image (needs a collection indexed with regions)' },
    path: { description: 'with --collection: only paths matching this glob', valueName: 'GLOB' },
    'min-width': { description: 'with --collection: only images at least this wide', valueName: 'N' },
    'min-height': { description: 'with --collection: only images at least this high', valueName: 'N' },
    'max-width': { description: 'with --collection: only images at most this wide', valueName: 'N' },
    'max-height': { description: 'with --collection: only images at most this high', valueName: 'N' },
    after: { description: 'with --collection: only files modified after (2024-05-01, ISO 8601, or ms since the epoch)', valueName: 'DATE' },
    before: { description: 'with --collection: only files modified before', valueName: 'DATE' },
  },
  index: {
    collection: { description: 'the collection to create or update: a folder, or s3://bucket/prefix', valueName: 'PATH' },
    'batch-size': { description: 'images per model batch (and per commit)', default: '32', valueName: 'N' },
    regions: {
      description: 'region vectors stored per image: grid, patches or none (fixed when the collection is created)',
      default: 'grid',
      valueName: 'grid|patches|none',
    },
    'index-threshold': { description: 'build the vector index (IVF-PQ) once the collection holds this many images', valueName: 'N' },
    queue: { description: 'embed on workers through this Redis queue (run fgclip worker elsewhere)', valueName: 'redis://HOST:PORT' },
  },
  worker: {
    concurrency: { description: 'jobs embedded at once', default: '8', valueName: 'N' },
  },
  heatmap: {
    image: { description: 'the image (or give it as the first argument)', valueName: 'FILE' },
    text: { description: 'a text to map (one panel each)', valueName: 'TEXT' },
    out: { description: 'write the maps over the image as a PNG', valueName: 'FILE.png' },
    'shared-scale': { description: 'one colour scale for every panel (default: each panel its own)' },
  },
  eval: {
    out: { description: 'also write the JSON result to this file', valueName: 'FILE.json' },
    'batch-size': { description: 'items per model batch', valueName: 'N' },
    data: { description: 'FG-OVD benchmark file (JSONL)', valueName: 'FILE.jsonl' },
    images: { description: "folder the data file's image paths are relative to", valueName: 'DIR' },
    long: { description: 'long-text mode for captions' },
    short: { description: 'short-text mode for captions' },
    pairs: { description: 'image–caption pairs: JSON [{image, caption}] or CSV image,caption', valueName: 'FILE' },
    imagefolder: { description: 'ImageNet-style folder: one subfolder per class', valueName: 'DIR' },
    classnames: { description: "class names, one per line, in the subfolders' sorted order", valueName: 'FILE' },
    annotations: { description: 'COCO-format annotations (boxes with category ids)', valueName: 'COCO.json' },
    templates: {
      description: 'prompt templates: none, imagenet (the 80) or a file with {} for the label',
      default: 'imagenet',
      valueName: 'none|imagenet|FILE',
    },
  },
  serve: {
    threads: {
      description: 'ONNX Runtime intra-op threads (the model and decode threads also run at nice 10 and ORT does not spin, so the HTTP thread keeps answering)',
      default: 'all cores',
      valueName: 'N',
    },
    host: { description: 'address to listen on (anything but loopback: set --api-key)', default: '127.0.0.1', valueName: 'HOST' },
    port: { description: 'TCP port (0: any free port)', default: '8080', valueName: 'PORT' },
    'model-name': { description: 'model name in responses and the "model" field clients send', default: 'the Hub id, or the folder name', valueName: 'NAME' },
    'served-name': { description: 'another name the server answers to in "model" fields and /v1/models, e.g. the Hub id of a local folder', valueName: 'NAME' },
    'api-key': { description: 'require "Authorization: Bearer KEY" (also FGCLIP_API_KEYS=k1,k2)', valueName: 'KEY' },
    'cors-allow-origin': {
      description: "let browser pages from this origin call the API (CORS; e.g. https://app.example, or '*' for any)",
      valueName: 'ORIGIN',
    },
    'max-connections': { description: 'open connections at most; more are refused at accept', default: '512', valueName: 'N' },
    'max-buffered-bytes': {
      description: 'request body bytes held across all requests; more → 503 + Retry-After',
      default: '268435456 (256 MiB)',
      valueName: 'BYTES',
    },
    'pixel-budget': {
      description: 'decoded image pixels in flight across all requests; more images wait their turn',
      default: '67108864 (4 × 4096²)',
      valueName: 'PIXELS',
    },
    'no-batching': { description: 'run each request on its own (no merging of concurrent requests into model batches)' },
    'max-batch-size': { description: 'inputs per model batch', default: '32', valueName: 'N' },
    'max-wait-ms': { description: 'how long a batch may wait for more requests while the model is idle', default: '0', valueName: 'MS' },
    'max-hold-ms': {
      description: "how long an image batch may wait for other requests' images still being decoded (also at most one recent model call; 0: never)",
      default: '100',
      valueName: 'MS',
    },
    'max-queue': { description: 'inputs waiting before requests get 503 + Retry-After', default: '1024', valueName: 'N' },
    'timeout-ms': { description: 'request deadline (504 after it)', default: '30000', valueName: 'MS' },
    'max-body-bytes': { description: 'largest request body', default: '33554432 (32 MiB)', valueName: 'BYTES' },
    'max-inputs': { description: 'texts per request', default: '256', valueName: 'N' },
    'max-images': { description: 'images per request', default: '16', valueName: 'N' },
    'image-root': { description: 'let requests name image files (file:NAME) under this folder', valueName: 'DIR' },
    'allow-remote-images': { description: 'let requests give http(s) image URLs (public addresses only)' },
    'allow-private-images': { description: 'with --allow-remote-images: also loopback/private addresses' },
    'max-image-bytes': { description: 'largest image file or download', default: '20971520 (20 MiB)', valueName: 'BYTES' },
    'remote-timeout-ms': { description: 'deadline of an image download', default: '10000', valueName: 'MS' },
    collection: { description: 'serve this collection: the /v1/collection routes and the gallery page', valueName: 'PATH' },
  },
  train: {
    model: { description: 'checkpoint to fine-tune: a folder or a Hub id (or --init synthetic)', valueName: 'DIR|REPO' },
    init: { description: 'start from a fresh small model instead of a checkpoint', valueName: 'synthetic' },
    'tokenizer-from': { description: 'with --init: a CLIP checkpoint folder whose tokenizer files to use', valueName: 'DIR' },
    data: { description: 'training data: FineHARD JSON/JSONL (stage 2) or image,caption JSONL/CSV (stage 1)', valueName: 'FILE' },
    images: { description: "folder the data's image paths are relative to", default: "the data file's folder", valueName: 'DIR' },
    'eval-data': { description: 'held-out data evaluated during training', valueName: 'FILE' },
    'eval-images': { description: "folder of the held-out data's images", valueName: 'DIR' },
    'eval-every': { description: 'also evaluate every N steps', default: 'only at the end', valueName: 'N' },
    out: { description: 'output folder: checkpoints, the final model, train-log.jsonl', valueName: 'DIR' },
    stage: { description: 'training stage: 1 (global contrastive) or 2 (+ regions and hard negatives)', default: '2', valueName: '1|2' },
    'batch-size': { description: 'samples per step', default: '8', valueName: 'N' },
    steps: { description: 'optimizer steps (instead of --epochs)', valueName: 'N' },
    epochs: { description: 'passes over the data', default: '1', valueName: 'N' },
    lr: { description: 'peak learning rate', default: '1e-6', valueName: 'LR' },
    'warmup-steps': { description: 'linear warm-up steps', default: '200', valueName: 'N' },
    schedule: { description: 'learning-rate schedule after warm-up', default: 'cosine', valueName: 'cosine|linear|constant' },
    'weight-decay': { description: 'AdamW weight decay', default: '0.001', valueName: 'X' },
    'max-grad-norm': { description: 'gradient clipping norm (inf: none)', default: '1', valueName: 'X' },
    'text-lr-scale': { description: 'learning-rate multiplier of the text tower', default: '1', valueName: 'X' },
    'region-weight': { description: 'weight of the region contrastive loss (stage 2)', default: '0.1', valueName: 'X' },
    'hard-negative-weight': { description: 'weight of the hard-negative loss (stage 2)', default: '0.5', valueName: 'X' },
    'keep-region-scales': { description: "keep the checkpoint's region logit scales (default: re-initialize them, as the reference)" },
    freeze: { description: 'freeze vision, text or all-but-projections', valueName: 'PART' },
    'freeze-layers': { description: 'freeze the first N layers of each tower', default: '0', valueName: 'N' },
    seed: { description: 'random seed (data order, initialization)', default: '42', valueName: 'N' },
    'save-every': { description: 'write a checkpoint every N steps', default: '500', valueName: 'N' },
    keep: { description: 'checkpoints kept (older ones are removed)', default: '2', valueName: 'N' },
    'no-resume': { description: 'start over even if --out holds a checkpoint (default: resume from it)' },
    'on-bad-record': { description: 'a record that cannot be read: skip it (with a notice) or fail', default: 'skip', valueName: 'skip|fail' },
    bilingual: { description: 'FG-CLIP 2: every batch of one language, Chinese (is_cn) or English, as the authors train (off: mixed batches)' },
    workers: { description: 'image decoding/resizing worker threads', default: '2', valueName: 'N' },
    'final-dtype': { description: "precision of the final model's weights", default: 'f32', valueName: 'f32|f16' },
  },
  synthetic: {
    out: { description: 'output folder (train.jsonl, heldout.jsonl and the images)', valueName: 'DIR' },
    train: { description: 'training samples', default: '2000', valueName: 'N' },
    heldout: { description: 'held-out samples', default: '200', valueName: 'N' },
    seed: { description: 'random seed', default: '1', valueName: 'N' },
    'image-size': { description: 'image side in pixels (at least 24)', default: '64', valueName: 'N' },
  },
  loss: {
    batch: { description: "one batch in the reference collate's fields (as fgclip-tiny.loss.json)", valueName: 'FILE.json' },
    stage: { description: 'training stage: 1 or 2', default: '2 if the batch has box fields, else 1', valueName: '1|2' },
  },
  export: {
    out: { description: 'folder to write (ONNX files, external weights, manifest.json)', valueName: 'DIR' },
    dtype: { description: 'weight precision of the exported graphs', default: 'fp32', valueName: 'fp32|fp16|int8' },
    force: { description: 'overwrite a non-empty --out folder' },
  },
  cache: {
    only: {
      description: 'kinds of entries: graphs (compiled ONNX graphs), folders (collections behind `fgclip search DIR`), embeddings',
      default: 'all',
      valueName: 'KINDS',
    },
    'older-than': { description: 'clean: only entries not read or written for this many days', default: '0 (everything)', valueName: 'DAYS' },
    'dry-run': { description: 'clean: list what would be removed, remove nothing' },
    'cache-dir': { description: 'the fgclip cache folder', default: '$FGCLIP_CACHE or ~/.cache/fgclip', valueName: 'DIR' },
  },
  doctor: {
    threads: { description: 'thread count to report as the one fgclip would use', valueName: 'N' },
  },
};

/** The help entry of one option of one command ("eval fgovd" also looks under "eval"). */
export function optionDoc(command: string, option: string): OptionDoc | undefined {
  const base = command.split(' ')[0];
  return COMMAND_OPTION_DOCS[command]?.[option] ?? COMMAND_OPTION_DOCS[base]?.[option] ?? OPTION_DOCS[option];
}
