/** Evaluation harness for the reference's protocols (docs/model-spec.md §6): FG-OVD, retrieval, zero-shot, box classification. */
export { evalBoxes, parseCoco, readCoco, type BoxesResult, type CocoBox, type CocoDataset, type CocoImage } from './boxes.js';
export { parseCsv } from './csv.js';
export { evalFgovd, parseFgovdJsonl, readFgovd, type FgovdItem, type FgovdItemResult, type FgovdOptions, type FgovdResult } from './fgovd.js';
export { bestRank, rankOf, recallAtK, topK } from './metrics.js';
export { formatTable, percent, progressLine } from './report.js';
export {
  evalRetrieval,
  groupPairs,
  parsePairsCsv,
  parsePairsJson,
  readPairs,
  RECALL_KS,
  retrievalRecall,
  type Recall,
  type RetrievalOptions,
  type RetrievalPair,
  type RetrievalResult,
} from './retrieval.js';
export {
  evalZeroshot,
  readClassnames,
  readImageFolder,
  type AccuracyResult,
  type ClassifierEvalOptions,
  type ImageFolder,
  type ImageFolderSample,
  type ZeroshotResult,
} from './zeroshot.js';
