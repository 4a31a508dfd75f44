/** The checkpoint reading port on Node: the weight files of a folder on disk, read by path. */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointFiles, SafetensorsFile } from '../../weights/checkpoint-files.js';
import { readCheckpoint } from '../../weights/checkpoint.js';
import { readSafetensors, readSafetensorsHeader } from '../../weights/safetensors.js';

export function nodeCheckpointFiles(dir: string): CheckpointFiles {
  return {
    readAll: () => readCheckpoint(dir),
    async safetensors(name): Promise<SafetensorsFile> {
      const path = join(dir, name);
      const header = await readSafetensorsHeader(path);
      let fd: number | undefined;
      return {
        where: path,
        header,
        read: (only) => readSafetensors(path, only ? { only } : {}),
        readSync(begin, end) {
          fd ??= openSync(path, 'r');
          const bytes = new Uint8Array(end - begin);
          let done = 0;
          while (done < bytes.length) {
            const n = readSync(fd, bytes, done, bytes.length - done, begin + done);
            if (n === 0) return bytes.subarray(0, done);
            done += n;
          }
          return bytes;
        },
        close() {
          if (fd !== undefined) closeSync(fd);
          fd = undefined;
        },
      };
    },
  };
}
