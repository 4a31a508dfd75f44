/**
 * A training run in a child process, for the kill -9 and Ctrl-C tests: the real Trainer (data workers, checkpoints,
 * resume) around the stand-in quadratic engine. Usage: train-child.ts OUT DATA TOKENIZER_DIR STEPS [DELAY_MS]
 * Prints "step N" after each step and "done" at the end. SIGINT requests a stop as the CLI does.
 */
import { Trainer } from '../train/trainer.js';
import { TEST_SPEC } from './train-fixtures.js';
import { quadraticEngine } from './train-engine.js';

const [out, data, tokenizerFrom, steps, delay] = process.argv.slice(2);
const trainer = new Trainer({
  init: { spec: TEST_SPEC, tokenizerFrom },
  data,
  out,
  stage: 2,
  batchSize: 3,
  steps: Number(steps),
  lr: 1e-2,
  warmupSteps: 2,
  saveEvery: 1,
  workers: 1,
  engine: async (config) => quadraticEngine(config, { delayMs: Number(delay ?? 0) }),
  afterStep: (s) => process.stdout.write(`step ${s}\n`),
});
process.on('SIGINT', () => trainer.requestStop());
const r = await trainer.run();
process.stdout.write(r.interrupted ? `interrupted ${r.steps}\n` : 'done\n');
