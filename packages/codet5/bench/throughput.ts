/**
 * Throughput of a CodeT5-small-shaped model with random weights (d_model 512, 6 + 6 blocks,
 * 8 heads, d_ff 2048, vocab 32100). It times one AdamW training step at batch 8 with 128 source
 * and 64 target tokens, and greedy and 4-beam generation for a batch of 8. Run it with
 * `nx run codet5:bench`; it prints every figure with its unit. `BENCH_STEPS`,
 * `BENCH_MICRO_BATCH`, `BENCH_NEW_TOKENS` and `MODULAREVO_BACKEND` change the run, and
 * `BENCH_MODEL=<folder>` times a Hugging Face model folder (such as a test fixture) instead.
 */
import * as tf from '@tensorflow/tfjs-core';

import { AdamW, GradientAccumulator, initBackend, setLogLevel } from '@modularevo/core-tensor';

import { T5ForConditionalGeneration, generate, parseT5Config, randomT5Weights } from '../src';

const BATCH = 8;
const SOURCE_LENGTH = 128;
const TARGET_LENGTH = 64;
const TRAINING_STEPS = Number(process.env.BENCH_STEPS ?? 3);
// The tfjs gradient tape keeps every activation alive until the backward pass: on wasm the
// peak was 1.1 GB at batch 2 and 1.5 GB at batch 4, and batch 8 aborted the 4 GB wasm heap.
// So a step accumulates micro-batches by default.
const MICRO_BATCH = Number(process.env.BENCH_MICRO_BATCH ?? 4);
const NEW_TOKENS = Number(process.env.BENCH_NEW_TOKENS ?? 32);

/** Token ids from a seeded linear congruential generator, avoiding the special ids 0 to 4. */
function randomIds(rows: number, columns: number, vocab: number, seed: number): number[][] {
  let state = seed >>> 0;
  return Array.from({ length: rows }, () =>
    Array.from({ length: columns }, () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return 5 + (state % (vocab - 5));
    }),
  );
}

function print(figure: string, value: number, unit: string, digits = 2): void {
  process.stdout.write(`${figure.padEnd(52)} ${value.toFixed(digits).padStart(10)} ${unit}\n`);
}

/**
 * Runs one step of teacher-forced training: forward with dropout, loss and gradients per
 * micro-batch, their mean, then one AdamW update.
 *
 * @returns the mean loss of the batch
 */
async function trainingStep(
  model: T5ForConditionalGeneration,
  optimizer: AdamW,
  sources: number[][],
  targets: number[][],
  seed: number,
): Promise<number> {
  const accumulator = new GradientAccumulator([...model.params.values()]);
  for (let start = 0; start < sources.length; start += MICRO_BATCH) {
    const inputIds = tf.tensor2d(sources.slice(start, start + MICRO_BATCH), undefined, 'int32');
    const labels = tf.tensor2d(targets.slice(start, start + MICRO_BATCH), undefined, 'int32');
    accumulator.add(() => model.forward({ inputIds, labels }, { training: true, seed: seed * 100 + start }).loss!);
    tf.dispose([inputIds, labels]);
  }

  const { grads, loss } = await accumulator.take();
  optimizer.step(grads);
  tf.dispose(Object.values(grads));
  return loss;
}

/** Creates a CodeT5-small-shaped model with random weights. */
function codeT5SmallShaped(): T5ForConditionalGeneration {
  const config = parseT5Config(
    {
      model_type: 't5',
      vocab_size: 32100,
      d_model: 512,
      d_kv: 64,
      d_ff: 2048,
      num_layers: 6,
      num_decoder_layers: 6,
      num_heads: 8,
      relative_attention_num_buckets: 32,
      feed_forward_proj: 'relu',
      dropout_rate: 0.1,
      pad_token_id: 0,
      bos_token_id: 1,
      eos_token_id: 2,
      decoder_start_token_id: 0,
    },
    'codet5-small shape (random weights)',
  );
  return T5ForConditionalGeneration.fromStateDict(config, randomT5Weights(config, 0));
}

async function main(): Promise<void> {
  setLogLevel('warn');
  const backend = await initBackend();

  // model
  const model = process.env.BENCH_MODEL ? T5ForConditionalGeneration.fromPretrained(process.env.BENCH_MODEL) : codeT5SmallShaped();
  const config = model.config;
  const parameters = [...model.params.values()].reduce((total, variable) => total + variable.size, 0);
  const name = process.env.BENCH_MODEL ?? 'codet5-small shape';
  process.stdout.write(`backend ${backend.name} (${tf.getBackend()}), ${name}, ${(parameters / 1e6).toFixed(2)}M parameters\n`);

  // training step, after one micro-batch of warm-up
  const sources = randomIds(BATCH, SOURCE_LENGTH, config.vocab_size, 1);
  const targets = randomIds(BATCH, TARGET_LENGTH, config.vocab_size, 2);
  const optimizer = new AdamW([...model.params.values()], { lr: 1e-4, weightDecay: 0 });
  await trainingStep(model, optimizer, sources.slice(0, MICRO_BATCH), targets.slice(0, MICRO_BATCH), 0);
  const stepTimes: number[] = [];
  for (let step = 1; step <= TRAINING_STEPS; step++) {
    const started = performance.now();
    const loss = await trainingStep(model, optimizer, sources, targets, step);
    stepTimes.push((performance.now() - started) / 1000);
    process.stderr.write(`training step ${step}/${TRAINING_STEPS}: loss ${loss.toFixed(4)}, ${stepTimes[step - 1].toFixed(2)} s\n`);
  }
  const median = [...stepTimes].sort((a, b) => a - b)[Math.floor(stepTimes.length / 2)];
  print(`training step (batch ${BATCH} as ${BATCH / MICRO_BATCH} x ${MICRO_BATCH}, ${SOURCE_LENGTH} -> ${TARGET_LENGTH}), median`, median, 's');
  print('training throughput (source + target tokens)', (BATCH * (SOURCE_LENGTH + TARGET_LENGTH)) / median, 'tokens/s', 0);

  // generation
  const prompts = randomIds(BATCH, SOURCE_LENGTH, config.vocab_size, 3);
  for (const numBeams of [1, 4]) {
    generate(model, prompts.slice(0, 1), { numBeams, maxNewTokens: 2 });
    let steps = 0;
    const started = performance.now();
    // An end-token id outside the random weights' reach is not guaranteed, so count the steps actually run.
    generate(model, prompts, { numBeams, maxNewTokens: NEW_TOKENS, onStep: (step) => (steps = step) });
    const seconds = (performance.now() - started) / 1000;
    const search = numBeams === 1 ? 'greedy' : `beam-${numBeams}`;
    print(`${search} generation (batch ${BATCH}, ${steps} new tokens)`, seconds, 's');
    print(`${search} throughput (output tokens of all inputs)`, (BATCH * steps) / seconds, 'tokens/s', 1);
  }

  optimizer.dispose();
  model.dispose();
  process.stdout.write(`tensors left: ${tf.memory().numTensors}\n`);
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
