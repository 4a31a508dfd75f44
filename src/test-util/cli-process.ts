/** The CLI in a real child process (tests that kill it, or need process isolation). */
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from './goldens.js';

const ENTRY = `import { main } from ${JSON.stringify(REPO_ROOT + '/src/cli/main.ts')}; main(process.argv.slice(1)).then((c) => { process.exitCode = c; });`;

export function spawnCli(args: readonly string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ENTRY, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs to the end: exit code (or signal) and the output. */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  const child = spawnCli(args, env);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => (err += String(d)));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })));
}
