/**
 * The pretraining data: the train and test splits of the four built-in corpora, tokenized and
 * cut into fixed-length blocks per domain. Training mixes the blocks of every domain in one
 * shuffled order per epoch.
 */
import * as path from 'path';

import { InvalidInputError, type Rng } from '@modularevo/core-tensor';
import { BUILTIN_DOMAINS, readCorpusTexts, tokenizeToBlocks, type BuiltinDomain, type Tokenizer } from '@modularevo/datasets';

/** Blocks of one domain and split. */
export interface DomainBlocks {
  domain: BuiltinDomain;
  /** `[blocks, blockSize]` token ids, row-major. */
  ids: Int32Array;
  blocks: number;
  documents: number;
  /** Tokens of the split, document separators included, before the last partial block is dropped. */
  tokens: number;
}

/** Tokenized train and test blocks of every built-in domain. */
export interface PretrainingData {
  blockSize: number;
  train: DomainBlocks[];
  test: DomainBlocks[];
}

/** One training or evaluation batch: `[batch, blockSize]` token ids. */
export interface BlockBatch {
  inputIds: number[][];
}

/**
 * Reads and tokenizes the train and test splits of every built-in corpus under `dataDir`
 * (`corpora/<domain>/{train,test}.jsonl`).
 *
 * @throws CheckpointError for a missing corpus file, InvalidInputError for a split shorter than one block
 */
export async function loadPretrainingData(dataDir: string, tokenizer: Tokenizer, blockSize: number): Promise<PretrainingData> {
  const load = async (domain: BuiltinDomain, split: 'train' | 'test'): Promise<DomainBlocks> => {
    const file = path.join(dataDir, 'corpora', domain, `${split}.jsonl`);
    const blocks = await tokenizeToBlocks(await readCorpusTexts(file), tokenizer, blockSize);
    return { domain, ids: blocks.data, blocks: blocks.shape[0], documents: blocks.documents, tokens: blocks.totalTokens };
  };

  const train: DomainBlocks[] = [];
  const test: DomainBlocks[] = [];
  for (const domain of BUILTIN_DOMAINS) {
    train.push(await load(domain, 'train'));
    test.push(await load(domain, 'test'));
  }
  return { blockSize, train, test };
}

/**
 * Returns the training batches of one epoch: the blocks of every domain in one order drawn from
 * `rng`, `batchSize` blocks per batch. The last partial batch is dropped, so every step sees
 * `batchSize * blockSize` tokens.
 *
 * @throws InvalidInputError when there are fewer blocks than one batch
 */
export function epochBatches(train: readonly DomainBlocks[], batchSize: number, blockSize: number, rng: Rng): BlockBatch[] {
  const rows: Int32Array[] = [];
  for (const domain of train) {
    for (let b = 0; b < domain.blocks; b++) rows.push(domain.ids.subarray(b * blockSize, (b + 1) * blockSize));
  }
  if (rows.length < batchSize) {
    throw new InvalidInputError(`The corpora give ${rows.length} training blocks, fewer than one batch of ${batchSize}: lower --batch-size or --block-size`);
  }

  const order = rng.permutation(rows.length);
  const batches: BlockBatch[] = [];
  for (let start = 0; start + batchSize <= order.length; start += batchSize) {
    batches.push({ inputIds: order.slice(start, start + batchSize).map((row) => Array.from(rows[row])) });
  }
  return batches;
}

/**
 * Returns evaluation batches of one domain's blocks. With `sample`, only that many blocks are
 * taken, spread evenly over the split, so a quick evaluation covers its beginning and its end.
 */
export function evaluationBatches(blocks: DomainBlocks, blockSize: number, batchSize: number, sample?: number): BlockBatch[] {
  const count = sample === undefined ? blocks.blocks : Math.min(sample, blocks.blocks);
  const rows: number[][] = [];
  for (let i = 0; i < count; i++) {
    const b = Math.floor((i * blocks.blocks) / count);
    rows.push(Array.from(blocks.ids.subarray(b * blockSize, (b + 1) * blockSize)));
  }

  const batches: BlockBatch[] = [];
  for (let start = 0; start < rows.length; start += batchSize) batches.push({ inputIds: rows.slice(start, start + batchSize) });
  return batches;
}
