/**
 * Times training steps of randomly initialised RoBERTa models shaped like CodeBERT-base
 * (hidden 768, 12 layers, 12 heads, vocabulary 50265) and a smaller one, and prints seconds per
 * step and tokens per second:
 *
 * - `mlm`: a masked-LM step on 8 sequences of 128 tokens (15% chosen): forward, backward, AdamW
 *   update of every weight;
 * - `clone`: a clone-detection step on 8 pairs of 128-token functions (16 sequences): forward,
 *   backward, AdamW update of every weight and the head.
 *
 * Each workload runs in its own child process, because a wasm heap that runs out of memory
 * aborts the whole backend. When a step does not fit, a child times forward and backward without
 * the AdamW update, and when that does not fit either, the forward pass alone.
 *
 * Run: `npm run bench -w @modularevo/codebert` (or `nx run codebert:bench`). `BENCH_SIZES=small,base`
 * picks sizes, `BENCH_WORKLOADS=mlm,clone` the workloads, `BENCH_STEPS` the timed steps (default 3),
 * `BENCH_BATCH` and `BENCH_SEQ` the batch (default 8 sequences or pairs) and tokens per sequence (default 128).
 */
import { spawnSync } from 'child_process';

import * as tf from '@tensorflow/tfjs-core';

import { AdamW, initBackend, lowMemoryVariableGrads, Rng } from '@modularevo/core-tensor';

import { CloneDetectionModel } from '../src/clone';
import { parseRobertaConfig } from '../src/config';
import { cloneHeadLayers, initHead } from '../src/heads';
import { CodeBertModel } from '../src/model';
import { maskedLMLoss, maskTokens, type MaskedLMBatch } from '../src/objective';

const BATCH = Number(process.env.BENCH_BATCH ?? 8);
const SEQ = Number(process.env.BENCH_SEQ ?? 128);

// CodeBERT-base's config.json values shared by every size.
const COMMON = {
  model_type: 'roberta',
  vocab_size: 50265,
  max_position_embeddings: 514,
  type_vocab_size: 1,
  layer_norm_eps: 1e-5,
  pad_token_id: 1,
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
};

const SIZES: Record<string, Record<string, number>> = {
  small: { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024 },
  base: { hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072 },
};

type Workload = 'mlm' | 'clone';

/** Part of a training step that a child times: the whole step, forward and backward only, or the forward pass. */
type Mode = 'step' | 'gradients' | 'forward';

/** Figures a child reports to the parent as its last stdout line. */
interface Figures {
  parameters: number;
  tokensPerStep: number;
  /** Seconds of the timed part (the whole step, forward and backward, or the forward pass). */
  seconds: number;
  forwardSeconds: number;
  /** Bytes the backend held after the last step (tf.memory). */
  backendBytes: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Random ids of ordinary tokens, `<s> ... </s>` around them. */
function randomRows(rng: Rng, rows: number): number[][] {
  return Array.from({ length: rows }, () => [0, ...Array.from({ length: SEQ - 2 }, () => 4 + rng.int(COMMON.vocab_size - 5)), 2]);
}

// Builds the model and one batch, and returns a loss function over that batch.
function setUp(size: string, workload: Workload): { parameters: tf.Variable[]; loss: (training: boolean, seed: number) => tf.Scalar; tokens: number } {
  const config = parseRobertaConfig({ ...COMMON, ...SIZES[size] }, `bench size ${size}`);
  const rng = Rng.create(1);
  const model = CodeBertModel.fromConfig(config, rng);

  if (workload === 'mlm') {
    const specialIds = new Set([0, 1, 2, 3, COMMON.vocab_size - 1]);
    const masked = maskTokens(randomRows(rng, BATCH), { maskId: COMMON.vocab_size - 1, padId: 1, vocabSize: COMMON.vocab_size, specialIds }, rng);
    const batch: MaskedLMBatch = { ...masked, attentionMask: masked.inputIds.map((row) => row.map(() => 1)) };
    return { parameters: [...model.params.values()], loss: (training, seed) => maskedLMLoss(model, batch, { training, seed }), tokens: BATCH * SEQ };
  }

  const head = initHead(cloneHeadLayers(config.hidden_size), rng.fork('head'));
  const clone = new CloneDetectionModel('clone', model, head, ['0', '1'], SEQ);
  const rows = randomRows(rng, 2 * BATCH);
  const batch = { inputIds: rows, attentionMask: rows.map((row) => row.map(() => 1)), labels: Array.from({ length: BATCH }, (_, i) => i % 2) };
  return { parameters: [...model.params.values(), ...head.values()], loss: (training, seed) => clone.loss(batch, { training, seed }), tokens: 2 * BATCH * SEQ };
}

async function benchChild(size: string, workload: Workload, steps: number, mode: Mode): Promise<Figures> {
  await initBackend();
  const { parameters, loss, tokens } = setUp(size, workload);
  const parameterCount = parameters.reduce((sum, variable) => sum + variable.size, 0);

  // forward pass alone
  const forwardTimes: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const started = performance.now();
    tf.tidy(() => loss(false, i).dataSync());
    if (i > 0) forwardTimes.push((performance.now() - started) / 1000);
  }
  const forwardSeconds = median(forwardTimes);
  if (mode === 'forward') return { parameters: parameterCount, tokensPerStep: tokens, seconds: forwardSeconds, forwardSeconds, backendBytes: tf.memory().numBytes };

  // training steps: forward, backward, AdamW (lr 5e-5, weight decay 0.01); the first is a warm-up
  const optimizer = mode === 'step' ? new AdamW(parameters, { lr: 5e-5, weightDecay: 0.01 }) : undefined;
  const stepTimes: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const started = performance.now();
    // frees each saved tensor as soon as the backward pass has used it
    const { value, grads } = lowMemoryVariableGrads(() => loss(true, 1000 * i), parameters);
    value.dataSync();
    optimizer?.step(grads);
    tf.dispose([value, ...Object.values(grads)]);
    parameters[0].dataSync(); // wait for the update
    if (i > 0) stepTimes.push((performance.now() - started) / 1000);
  }
  return { parameters: parameterCount, tokensPerStep: tokens, seconds: median(stepTimes), forwardSeconds, backendBytes: tf.memory().numBytes };
}

// Runs one workload in a child process and returns its figures, or the reason it failed.
function runChild(size: string, workload: Workload, steps: number, mode: Mode): Figures | string {
  const child = spawnSync(process.execPath, [...process.execArgv, __filename], {
    env: { ...process.env, BENCH_CHILD: `${size}:${workload}:${mode}`, MODULAREVO_LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const last = child.stdout.trimEnd().split('\n').pop() ?? '';
  if (child.status === 0 && last.startsWith('{')) return JSON.parse(last) as Figures;
  return child.stderr.split('\n').find((line) => /Error|Aborted|out of bounds|memory/i.test(line))?.trim() ?? `exit ${child.status}`;
}

async function main(): Promise<void> {
  const steps = Number(process.env.BENCH_STEPS ?? 3);

  // child: one workload, figures on the last line
  if (process.env.BENCH_CHILD) {
    const [size, workload, mode] = process.env.BENCH_CHILD.split(':');
    const figures = await benchChild(size, workload as Workload, steps, mode as Mode);
    console.log(JSON.stringify(figures));
    return;
  }

  const sizes = (process.env.BENCH_SIZES ?? 'small,base').split(',');
  const workloads = (process.env.BENCH_WORKLOADS ?? 'mlm,clone').split(',') as Workload[];
  console.log(`CodeBERT training step, ${BATCH} x ${SEQ} tokens (clone: ${BATCH} pairs, ${2 * BATCH} sequences), median of ${steps} steps after a warm-up`);
  for (const size of sizes) {
    for (const workload of workloads) {
      // the whole step, else forward and backward, else the forward pass alone
      const failures: string[] = [];
      for (const mode of ['step', 'gradients', 'forward'] as Mode[]) {
        const result = runChild(size, workload, steps, mode);
        if (typeof result === 'string') {
          failures.push(`${mode} failed: ${result}`);
          continue;
        }
        const what = { step: 'training step', gradients: 'forward + backward without AdamW', forward: 'forward pass' }[mode];
        console.log(
          `${size} ${workload}: ${(result.parameters / 1e6).toFixed(1)}M parameters, ${what} ${result.seconds.toFixed(2)} s, ` +
            `${(result.tokensPerStep / result.seconds).toFixed(1)} tokens/s, forward ${result.forwardSeconds.toFixed(2)} s, ` +
            `backend ${(result.backendBytes / 2 ** 20).toFixed(0)} MiB${failures.length ? ` (${failures.join('; ')})` : ''}`,
        );
        break;
      }
      if (failures.length === 3) console.log(`${size} ${workload}: ${failures.join('; ')}`);
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
