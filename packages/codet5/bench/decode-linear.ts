/**
 * Cost of the linear layers of a decode step, where each layer multiplies a few rows by a large
 * `[out, in]` weight. It compares core-tensor's `linear` (`x W^T`, the weight transposed by the
 * matmul kernel) with `(W x^T)^T` (the weight read as stored, the small result transposed), in
 * one process, with the native GEMM accelerator on and off. It times each layer shape of a
 * CodeT5-small decoder, then whole greedy and 4-beam generation. Run it with
 * `npx ts-node --transpile-only bench/decode-linear.ts`; it prints every figure with its unit.
 */
import * as tf from '@tensorflow/tfjs-core';

import { initBackend, nativeGemmStatus, setLogLevel, setNativeGemmEnabled, type LinearFn } from '@modularevo/core-tensor';

import { T5ForConditionalGeneration, denseLinear, generate, parseT5Config, randomT5Weights } from '../src';

const RUNS = 5;
const NEW_TOKENS = Number(process.env.BENCH_NEW_TOKENS ?? 16);
const GENERATION_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** `(W x^T)^T`: the weight as stored on the left, the `[rows, in]` input transposed by the kernel. */
const weightFirstLinear: LinearFn = (_layer, x, weight) =>
  tf.tidy(() => {
    const [outFeatures, inFeatures] = weight.shape;
    const rows = tf.reshape(x, [-1, inFeatures]); // [rows, in]
    const product = tf.matMul(weight, rows, false, true); // [out, in] x [in, rows] -> [out, rows]
    return tf.reshape(tf.transpose(product), [...x.shape.slice(0, -1), outFeatures]); // [..., out]
  });

const VARIANTS: [string, LinearFn][] = [
  ['x W^T (core linear)', denseLinear],
  ['(W x^T)^T', weightFirstLinear],
];

/** Best time of `run` over a few runs after a warm-up, in milliseconds. */
function bestMs(run: () => void): number {
  run();
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    run();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

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
  process.stdout.write(`${figure.padEnd(64)} ${value.toFixed(digits).padStart(10)} ${unit}\n`);
}

/** Times one linear layer per shape and variant, with the accelerator on and off. */
function layerTimes(): void {
  const shapes: [string, number, number][] = [
    ['q/k/v/o 512 -> 512', 512, 512],
    ['wi 512 -> 2048', 512, 2048],
    ['wo 2048 -> 512', 2048, 512],
    ['lm_head 512 -> 32100', 512, 32100],
  ];
  for (const native of [true, false]) {
    setNativeGemmEnabled(native);
    for (const rows of [8, 32]) {
      for (const [name, inFeatures, outFeatures] of shapes) {
        const weight = tf.randomNormal([outFeatures, inFeatures], 0, 0.05, 'float32', 1) as tf.Tensor2D;
        const x = tf.randomNormal([rows, 1, inFeatures], 0, 1, 'float32', 2);
        const layer = { name, weight: `${name}.weight`, inFeatures, outFeatures };
        for (const [variant, linear] of VARIANTS) {
          const ms = bestMs(() => tf.tidy(() => void linear(layer, x, weight, undefined).dataSync()));
          print(`${native ? 'native' : 'xnnpack'} ${rows} rows ${name}, ${variant}`, ms, 'ms');
        }
        tf.dispose([weight, x]);
      }
    }
  }
}

/**
 * Times greedy and 4-beam generation per variant, with the accelerator on and off. The variants
 * alternate over `GENERATION_ROUNDS` rounds and the best round counts, since other jobs share the
 * machine.
 */
function generationTimes(model: T5ForConditionalGeneration): void {
  const prompts = randomIds(8, 128, model.config.vocab_size, 3);
  for (const native of [true, false]) {
    setNativeGemmEnabled(native);
    for (const numBeams of [1, 4]) {
      const best = new Map<string, { tokensPerSecond: number; steps: number }>();
      for (let round = 0; round < GENERATION_ROUNDS; round++) {
        for (const [variant, linear] of VARIANTS) {
          generate(model, prompts.slice(0, 1), { numBeams, maxNewTokens: 2, linear });
          let steps = 0;
          const started = performance.now();
          generate(model, prompts, { numBeams, maxNewTokens: NEW_TOKENS, linear, onStep: (step) => (steps = step) });
          const tokensPerSecond = (8 * steps) / ((performance.now() - started) / 1000);
          if (tokensPerSecond > (best.get(variant)?.tokensPerSecond ?? 0)) best.set(variant, { tokensPerSecond, steps });
        }
      }
      for (const [variant, { tokensPerSecond, steps }] of best) {
        const search = numBeams === 1 ? 'greedy' : `beam-${numBeams}`;
        print(`${native ? 'native' : 'xnnpack'} ${search} (batch 8, ${steps} tokens), ${variant}`, tokensPerSecond, 'tokens/s', 1);
      }
    }
  }
}

async function main(): Promise<void> {
  setLogLevel('warn');
  const backend = await initBackend();
  const native = nativeGemmStatus();
  process.stdout.write(`backend ${backend.name}, native GEMM ${native.available ? `on ${native.threads} threads` : `off (${native.reason})`}\n`);

  if (process.env.BENCH_PART !== 'generation') layerTimes();

  const config = parseT5Config(
    {
      model_type: 't5', vocab_size: 32100, d_model: 512, d_kv: 64, d_ff: 2048, num_layers: 6, num_decoder_layers: 6, num_heads: 8,
      relative_attention_num_buckets: 32, feed_forward_proj: 'relu', dropout_rate: 0.1, pad_token_id: 0, eos_token_id: 2, decoder_start_token_id: 0,
    },
    'codet5-small shape (random weights)',
  );
  const model = T5ForConditionalGeneration.fromStateDict(config, randomT5Weights(config, 0));
  generationTimes(model);
  model.dispose();
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
