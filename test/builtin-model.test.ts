/**
 * Checks the built-in tiny GPT-Neo that `nx run gptneo:pretrain-tiny` writes to
 * `datasets/builtin/gpt-neo-tiny`. It must load as a Hugging Face folder, mix global and local
 * attention, fit in 16 MB and match its tokenizer. On held-out text of every built-in corpus it
 * must beat a unigram model and reach the perplexity that its `training.json` records.
 */
import * as fs from 'fs';
import * as path from 'path';

import { initBackend, SafetensorsFile } from '@modularevo/core-tensor';
import { BUILTIN_DOMAINS, builtinCorpus, builtinModelDir, loadTokenizer, readCorpusTexts, tokenizeToBlocks, type Tokenizer } from '@modularevo/datasets';
import { evaluatePerplexity, GPTNeoForCausalLM } from '@modularevo/gptneo';

const MAX_WEIGHTS_BYTES = 16_000_000;

/** Token blocks that the downstream tasks use; every built-in task example fits in one. */
const TASK_BLOCK_SIZE = 128;

/**
 * Allowed excess over the perplexity that `training.json` records for the same sample blocks.
 * It leaves room for the float32 rounding of another backend but is smaller than the change
 * that the last 250 of the 2,000 training steps made (about 4 %).
 */
const RECORDED_PERPLEXITY_MARGIN = 1.02;

/** Loading the model and tokenizing the 1.3M training tokens take a few seconds, more on a busy machine. */
const SETUP_TIMEOUT_MS = 120_000;

interface DomainResult {
  perplexity: number;
  unigram_perplexity: number;
}

/** The part of `training.json` that the tests read. */
interface TrainingRecord {
  settings: { block_size: number };
  results: {
    test: Record<string, DomainResult>;
    check_sample: { blocks_per_domain: number; perplexity: Record<string, number> };
  };
}

let model: GPTNeoForCausalLM;
let tokenizer: Tokenizer;
const dir = builtinModelDir();

beforeAll(async () => {
  await initBackend();
  model = GPTNeoForCausalLM.fromPretrained(dir);
  tokenizer = loadTokenizer(dir);
}, SETUP_TIMEOUT_MS);
afterAll(() => model?.dispose());

describe('built-in GPT-Neo folder', () => {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));

  it('has Hugging Face config keys', () => {
    expect(config.architectures).toEqual(['GPTNeoForCausalLM']);
    expect(config.model_type).toBe('gpt_neo');
    expect(config.torch_dtype).toBe('float32');
    expect(typeof config.transformers_version).toBe('string');
  });

  it('mixes global and local attention', () => {
    expect(model.config.attention_layers).toContain('global');
    expect(model.config.attention_layers).toContain('local');
    expect(model.config.window_size).toBeLessThan(TASK_BLOCK_SIZE);
    expect(model.config.max_position_embeddings).toBeGreaterThanOrEqual(2 * TASK_BLOCK_SIZE);
  });

  it('fits in 16 MB', () => {
    expect(fs.statSync(path.join(dir, 'model.safetensors')).size).toBeLessThanOrEqual(MAX_WEIGHTS_BYTES);
  });

  it('stores F32 weights with tied lm_head', () => {
    const file = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
    try {
      expect(file.keys()).not.toContain('lm_head.weight');
      expect(new Set(file.keys().map((key) => file.info(key).dtype))).toEqual(new Set(['F32']));
    } finally {
      file.close();
    }
    expect(config.tie_word_embeddings ?? true).toBe(true);
  });

  it('matches the tokenizer vocabulary', () => {
    expect(model.config.vocab_size).toBe(tokenizer.vocabSize);
    expect(model.parameter('transformer.wte.weight').shape[0]).toBe(tokenizer.vocabSize);
    expect(model.config.eos_token_id).toBe(tokenizer.eosId);
    expect(model.config.bos_token_id).toBe(tokenizer.bosId);
  });
});

describe('built-in GPT-Neo perplexity', () => {
  const record = JSON.parse(fs.readFileSync(path.join(dir, 'training.json'), 'utf8')) as TrainingRecord;
  const recorded = record.results.test;
  const sample = record.results.check_sample;
  const blockSize = record.settings.block_size;
  let unigramCounts: Float64Array;
  let unigramTotal = 0;

  // unigram frequencies of every training split, the mixture the model trained on
  beforeAll(async () => {
    unigramCounts = new Float64Array(tokenizer.vocabSize);
    for (const domain of BUILTIN_DOMAINS) {
      const blocks = await tokenizeToBlocks(await readCorpusTexts(builtinCorpus(domain).files.train), tokenizer, blockSize);
      for (const id of blocks.data) unigramCounts[id] += 1;
      unigramTotal += blocks.data.length;
    }
  }, SETUP_TIMEOUT_MS);

  it.each(BUILTIN_DOMAINS.map((domain) => [domain]))('beats unigram on %s test sample', async (domain) => {
    const blocks = await tokenizeToBlocks(await readCorpusTexts(builtinCorpus(domain).files.test), tokenizer, blockSize);
    const rows = sampleBlocks(blocks.data, blocks.shape[0], sample.blocks_per_domain, blockSize);

    const { perplexity } = evaluatePerplexity(model, [{ inputIds: rows }]);
    const unigram = unigramPerplexity(rows, unigramCounts, unigramTotal);

    expect(perplexity).toBeLessThan(unigram);
    expect(sample.perplexity[domain]).toBeDefined();
    expect(perplexity).toBeLessThan(sample.perplexity[domain] * RECORDED_PERPLEXITY_MARGIN);
  }, SETUP_TIMEOUT_MS);

  it('records perplexity below unigram', () => {
    for (const name of [...BUILTIN_DOMAINS, 'overall']) {
      expect(recorded[name].perplexity).toBeLessThan(recorded[name].unigram_perplexity);
    }
  });
});

// The sample that pretraining recorded: `count` blocks spread evenly over the split, as [count, blockSize] rows.
function sampleBlocks(data: Int32Array, blocks: number, count: number, blockSize: number): number[][] {
  const sampleSize = Math.min(count, blocks);
  const rows: number[][] = [];
  for (let i = 0; i < sampleSize; i++) {
    const b = Math.floor((i * blocks) / sampleSize);
    rows.push(Array.from(data.subarray(b * blockSize, (b + 1) * blockSize)));
  }
  return rows;
}

// Add-one smoothed unigram perplexity of every token but the first of each row, the targets the model is scored on.
function unigramPerplexity(rows: number[][], counts: Float64Array, total: number): number {
  const logDenominator = Math.log(total + counts.length);
  let negativeLogLikelihood = 0;
  let tokens = 0;
  for (const row of rows) {
    for (const id of row.slice(1)) {
      negativeLogLikelihood += logDenominator - Math.log(counts[id] + 1);
      tokens += 1;
    }
  }
  return Math.exp(negativeLogLikelihood / tokens);
}
