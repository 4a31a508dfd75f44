/** Where a benchmark ran: cores, CPU model, memory, versions, load average (other work on the machine skews figures). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly cpuFlags: string[];
  readonly memoryGiB: number;
  readonly node: string;
  readonly onnxruntimeNode: string;
  readonly sharp: string;
  readonly loadAverage1m: number;
}

/** A dependency's version from its package.json, found by walking up from its resolved entry (some packages do not export package.json). */
function packageVersion(name: string): string {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve(name));
    for (;;) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name && pkg.version) return pkg.version;
      }
      const up = dirname(dir);
      if (up === dir) return 'unknown';
      dir = up;
    }
  } catch {
    return 'unknown';
  }
}

function cpuInfo(): { model: string; flags: string[] } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1] ?? cpus()[0]?.model ?? 'unknown';
    const flags = (/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/).filter((f) => /^(avx|fma|f16c|amx)/.test(f));
    return { model, flags };
  } catch {
    return { model: cpus()[0]?.model ?? 'unknown', flags: [] };
  }
}

export function machineInfo(): MachineInfo {
  const { model, flags } = cpuInfo();
  return {
    nproc: availableParallelism(),
    cpuModel: model,
    cpuFlags: flags,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    sharp: packageVersion('sharp'),
    loadAverage1m: loadavg()[0],
  };
}
