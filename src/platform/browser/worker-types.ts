/**
 * Worker-only DOM APIs the model worker uses, which TypeScript's "DOM" lib (shared with the Node build) lacks:
 * FileReaderSync and OPFS sync access handles (lib.webworker.d.ts has them; it cannot be combined with "DOM").
 */
export interface SyncAccessHandle {
  read(buffer: ArrayBufferView, options?: { at?: number }): number;
  write(buffer: ArrayBufferView, options?: { at?: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}

export function syncAccessHandle(h: FileSystemFileHandle): Promise<SyncAccessHandle> {
  return (h as FileSystemFileHandle & { createSyncAccessHandle(): Promise<SyncAccessHandle> }).createSyncAccessHandle();
}

interface FileReaderSyncLike {
  readAsArrayBuffer(blob: Blob): ArrayBuffer;
}

export function fileReaderSync(): FileReaderSyncLike {
  const C = (globalThis as unknown as { FileReaderSync?: new () => FileReaderSyncLike }).FileReaderSync;
  if (!C) throw new Error('FileReaderSync is only available in a Web Worker');
  return new C();
}
