/**
 * Starts a worker thread on a module that sits next to the caller: NAME.js when running from dist/ (execArgv
 * inherited), NAME.ts when running as TypeScript (tsx). Node 20 does not carry the parent's `--import tsx` hooks
 * into a worker's entry module, so a small bootstrap registers tsx's ESM hooks inside the worker first.
 * Used by the preprocessing pool (pool.ts) and the server's model host (src/server/model-host.ts).
 */
import { Worker } from 'node:worker_threads';
import { FgClipError } from '../errors.js';

export function startModuleWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  const execArgv = [...process.execArgv];
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), { workerData, execArgv });
  let api: string;
  try {
    api = import.meta.resolve('tsx/esm/api');
  } catch (e) {
    throw new FgClipError(
      'RUNTIME',
      `worker ${name}: running from TypeScript sources needs the tsx package, which cannot be resolved. Install tsx or use the built dist/.`,
      { cause: e },
    );
  }
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const bootstrap = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData, execArgv });
}
