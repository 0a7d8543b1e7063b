export { batches, type BatchOptions } from './batches';
export { collateLabelled, padSequences, type LabelledBatch, type PadOptions, type PaddedBatch } from './collate';
export { encodeTexts, type EncodedTexts, type EncodeTextsOptions } from './encode';
export { stageShards } from './shards';
export { shuffle, type RandomSource, type ShuffleFunction, type Shuffler } from './shuffle';
