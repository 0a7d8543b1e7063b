/**
 * Times training steps of candidate tiny GPT-Neo shapes, so the shipped shape is chosen on
 * measured figures: one step is forward, backward, gradient clipping and AdamW update through
 * `train` of core-tensor, on random tokens. Shapes are timed in turns within one process, so
 * load from other work on the machine hits every shape alike. Then the default shape is timed
 * at several batch and sequence sizes: a language-modelling step, a step without `lm_head`
 * (the cost of classification fine-tuning) and the forward pass alone (evaluation).
 *
 * Run: `npx ts-node --transpile-only tools/scripts/pretrain-tiny/step-time.ts` after
 * `npx tsc -b packages/gptneo`. `STEP_TIME_ROUNDS` sets the number of turns (default 3), each
 * timing `STEP_TIME_STEPS` steps (default 5) after one warm-up step.
 */
import * as tf from '@tensorflow/tfjs-core';

import { AdamW, createRng, initBackend, setLogLevel, train } from '@modularevo/core-tensor';
import { causalLMObjective, GPTNeoForCausalLM, parseGPTNeoConfig, type CausalLMBatch } from '@modularevo/gptneo';

import { DEFAULT_SHAPE, tinyGPTNeoConfig, type TinyModelShape } from './model-config';

const CANDIDATES: Record<string, TinyModelShape> = {
  'h128-l4-i512': DEFAULT_SHAPE,
  'h96-l4-i384': { ...DEFAULT_SHAPE, hidden_size: 96, num_heads: 4, intermediate_size: 384 },
  'h128-l6-i512': { ...DEFAULT_SHAPE, num_layers: 6 },
  'h192-l4-i768': { ...DEFAULT_SHAPE, hidden_size: 192, num_heads: 6, intermediate_size: 768 },
  'h256-l2-i1024': { ...DEFAULT_SHAPE, hidden_size: 256, num_layers: 2, num_heads: 8, intermediate_size: 1024 },
};

const BATCH_SHAPES: [number, number][] = [
  [8, 64],
  [8, 128],
  [16, 128],
  [32, 128],
  [8, 256],
];

interface Timed {
  model: GPTNeoForCausalLM;
  optimizer: AdamW;
  parameters: number;
  seconds: number[];
}

function randomBatch(rng: ReturnType<typeof createRng>, batch: number, seq: number, vocab: number): CausalLMBatch {
  return { inputIds: Array.from({ length: batch }, () => Array.from({ length: seq }, () => rng.int(vocab))) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Loss of a timed step: `lm` is the causal language-modelling loss (pretraining, modularization),
 * `body` a scalar of the final hidden states without `lm_head`, which costs about what a
 * fine-tuning step with a small classification head costs.
 */
type TimedObjective = 'lm' | 'body';

function stepLoss(model: GPTNeoForCausalLM, batch: CausalLMBatch, objective: TimedObjective): tf.Scalar {
  if (objective === 'lm') return causalLMObjective(model, batch);
  return tf.mean(tf.square(model.transformer(batch).lastHiddenState)) as tf.Scalar;
}

// Trains `steps` steps on one fixed batch and returns seconds per step.
async function timeSteps(timed: Timed, batch: CausalLMBatch, steps: number, objective: TimedObjective = 'lm'): Promise<number> {
  const summary = await train({
    maxSteps: steps,
    batches: () => Array.from({ length: steps }, () => batch),
    lossFn: (b) => stepLoss(timed.model, b, objective),
    parameters: [...timed.model.params.values()],
    optimizer: timed.optimizer,
    maxGradNorm: 1.0,
    progress: false,
  });
  return summary.trainSeconds / steps;
}

function createTimed(shape: TinyModelShape, seed: number): Timed {
  const config = parseGPTNeoConfig(tinyGPTNeoConfig(shape), 'candidate config');
  const rng = createRng(seed);
  const model = GPTNeoForCausalLM.fromConfig(config, () => rng.uniform());
  const parameters = [...model.params.values()].reduce((sum, variable) => sum + variable.size, 0);
  const optimizer = new AdamW([...model.params.values()], { lr: 1e-4, weightDecay: 0.01 });
  return { model, optimizer, parameters, seconds: [] };
}

async function main(): Promise<void> {
  const rounds = Number(process.env.STEP_TIME_ROUNDS ?? 3);
  const steps = Number(process.env.STEP_TIME_STEPS ?? 5);
  const backend = await initBackend();
  setLogLevel('warn');
  console.log(`backend ${backend.name} (${backend.device}); ${rounds} rounds of ${steps} steps after one warm-up step`);
  const rng = createRng(7);

  // candidate shapes at batch 8 x 128, in turns
  const batch = randomBatch(rng, 8, 128, 8192);
  const timed = new Map(Object.entries(CANDIDATES).map(([name, shape]) => [name, createTimed(shape, 1)]));
  for (const entry of timed.values()) await timeSteps(entry, batch, 1);
  for (let round = 0; round < rounds; round++) {
    for (const entry of timed.values()) entry.seconds.push(await timeSteps(entry, batch, steps));
  }
  console.log('\nshape            parameters  F32 MB  s/step (median, min-max)  tokens/s');
  for (const [name, entry] of timed) {
    const step = median(entry.seconds);
    const range = `${Math.min(...entry.seconds).toFixed(3)}-${Math.max(...entry.seconds).toFixed(3)}`;
    console.log(
      `${name.padEnd(16)} ${String(entry.parameters).padStart(10)}  ${((entry.parameters * 4) / 1e6).toFixed(1).padStart(6)}  ` +
        `${step.toFixed(3)} (${range})`.padEnd(26) + `  ${Math.round(1024 / step)}`,
    );
  }
  for (const entry of timed.values()) if (entry.model !== timed.get('h128-l4-i512')!.model) entry.model.dispose();

  // the default shape at other batch and sequence sizes: training, training without lm_head, forward only
  const chosen = timed.get('h128-l4-i512')!;
  console.log('\nh128-l4-i512     batch x seq  train s/step  tokens/s  body s/step  tokens/s  forward s  tokens/s');
  for (const [size, seq] of BATCH_SHAPES) {
    const shaped = randomBatch(rng, size, seq, 8192);
    await timeSteps(chosen, shaped, 1);
    await timeSteps(chosen, shaped, 1, 'body');
    const trainTimes: number[] = [];
    const bodyTimes: number[] = [];
    const forwardTimes: number[] = [];
    for (let round = 0; round < rounds; round++) {
      trainTimes.push(await timeSteps(chosen, shaped, steps));
      bodyTimes.push(await timeSteps(chosen, shaped, steps, 'body'));
      const started = performance.now();
      for (let i = 0; i < steps; i++) tf.tidy(() => causalLMObjective(chosen.model, shaped).dataSync());
      forwardTimes.push((performance.now() - started) / 1000 / steps);
    }
    const trainStep = median(trainTimes);
    const bodyStep = median(bodyTimes);
    const forward = median(forwardTimes);
    const tokens = size * seq;
    console.log(
      `${`${size} x ${seq}`.padStart(28)}  ${trainStep.toFixed(3).padStart(12)}  ${String(Math.round(tokens / trainStep)).padStart(8)}  ` +
        `${bodyStep.toFixed(3).padStart(11)}  ${String(Math.round(tokens / bodyStep)).padStart(8)}  ` +
        `${forward.toFixed(3).padStart(9)}  ${String(Math.round(tokens / forward)).padStart(8)}`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
