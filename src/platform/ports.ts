/**
 * The ports: what the platform-free layers need from a platform, as interfaces. The Node platform
 * (src/platform/node/) and the browser platform (src/platform/browser/) implement them; the layers that use them
 * (tokenizer, families, caches) take an implementation as an argument and never import a platform themselves.
 * See docs/architecture.md, "A new platform".
 */
import type { FgClipErrorCode } from '../errors.js';

/** How to read one file: what it is (for messages), the error code when it cannot be read, and a size bound. */
export interface ReadLimits {
  /** what the file is, for messages ("tokenizer.json", "config.json", "image") */
  readonly what: string;
  /** error code for a file that is there but is not a readable regular file, or is larger than `maxBytes` */
  readonly code: FgClipErrorCode;
  /** refuse files larger than this many bytes */
  readonly maxBytes?: number;
  /** appended to messages */
  readonly hint?: string;
}

/**
 * File reading port: the files of one model folder, read by name — a checkpoint folder on disk (Node:
 * `nodeFolder(dir)` in src/platform/node/folder.ts) or a Hub mirror, URL or OPFS folder (browser).
 */
export interface ModelFolder {
  /** the folder as messages name it (a path on Node, a repo id or URL in the browser) */
  readonly location: string;
  /** the file `name` of the folder as messages name it */
  where(name: string): string;
  /**
   * The text (UTF-8) of the file `name`; undefined when the folder has no such file. A file that is there but cannot
   * be read (a directory, a FIFO, a device, a dangling symlink, larger than `limits.maxBytes`) → FgClipError with
   * `limits.code`, naming the file.
   */
  readText(name: string, limits: ReadLimits): Promise<string | undefined>;
}
