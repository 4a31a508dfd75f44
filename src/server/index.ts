/** The HTTP service: `createServer` (in-process, for tests and embedding) and the pieces worth reusing. */
export { createServer, type FgClipServer, type ServerOptions } from './server.js';
export { Batcher, BatcherClosedError, QueueFullError, type BatchInfo, type BatcherOptions, type SubmitStats } from './batcher.js';
export { isPrivateAddress } from './net-guard.js';
export { apiKeysFrom } from './auth.js';
export { ModelHost, type ModelHostOptions } from './model-host.js';
export { Engine, type RunOptions } from './engine.js';
export { inProcess, type ServedModel, type ServedModelInfo } from './served-model.js';
