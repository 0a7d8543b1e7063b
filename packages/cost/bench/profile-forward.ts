/**
 * Where the time of one task forward pass goes, dense against sparse: the linear layers and
 * everything else, garbage collection and minor page faults. For the sparse path that reads its
 * input back (the way every backend other than wasm runs it), it also splits each layer call into
 * read-back, kernel and upload. Then it lists the kernels of both paths side by side, from
 * `tf.profile`.
 *
 * Settings: BENCH_MODEL (gptneo or codebert), BENCH_BATCH (default 1), BENCH_RETENTION (default
 * 0.25), BENCH_REPEATS (default 5). Run with `npm run bench-profile -w @modularevo/cost`.
 */
import { PerformanceObserver } from 'perf_hooks';

import * as tf from '@tensorflow/tfjs-core';
import { initBackend, linear, type LinearFn } from '@modularevo/core-tensor';

import { buildSparsePlan, median, sparseLinear, type SparsePlan } from '../src';
import { randomModule } from '../src/testing/architectures';
import { codeBertBase, gptNeo125m } from './models';
import { describeMachine, loadAverage, timeOnce } from './timing';

const MODEL = process.env.BENCH_MODEL ?? 'gptneo';
const BATCH = Number(process.env.BENCH_BATCH ?? 1);
const RETENTION = Number(process.env.BENCH_RETENTION ?? 0.25);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const SEQ = 128;

/** Milliseconds of one forward pass, split into parts. */
type Parts = Record<string, number>;

// garbage collection time since the last call, from the gc entries Node reports
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

/** Wraps `linearFn` so that every call adds its time to `parts.linear`. */
function timedLinear(linearFn: LinearFn, parts: Parts): LinearFn {
  return (layer, x, weight, bias) => {
    const started = process.hrtime.bigint();
    const y = linearFn(layer, x, weight, bias);
    parts.linear += Number(process.hrtime.bigint() - started) / 1e6;
    return y;
  };
}

/**
 * The sparse path as backends other than wasm run it, with its parts timed: read the input back,
 * multiply, upload the product.
 */
function readBackLinear(plan: SparsePlan, parts: Parts): LinearFn {
  return (layer, x, weight, bias) => {
    const planned = plan.layers.get(layer.weight);
    if (!planned || planned.path === 'dense') return linear(x, planned?.weight ?? weight, bias && planned ? planned.bias : bias);

    const tokens = x.size / planned.layer.inFeatures;
    let input: Float32Array = new Float32Array(0);
    parts['read-back'] += timeOnce(() => (input = x.dataSync() as Float32Array)); // [tokens, in]
    const output = new Float32Array(tokens * planned.layer.outFeatures); // [tokens, out]
    parts.kernel += timeOnce(() => planned.weight.multiply(input, tokens, bias ? planned.bias : undefined, output));
    let y: tf.Tensor = tf.scalar(0);
    parts.upload += timeOnce(() => (y = tf.tensor(output, [...x.shape.slice(0, -1), planned.layer.outFeatures], 'float32'))); // [..., out]
    return y;
  };
}

// Node reports gc entries to observers on a later turn of the event loop
const gcEntriesDelivered = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Runs one forward pass and returns its parts: total, linear, other and gc in milliseconds, the
 * minor page faults of the process (first touches of fresh memory), plus what `extra` fills.
 */
async function profileOnce(forward: (linearFn: LinearFn) => tf.Tensor, makeLinear: (parts: Parts) => LinearFn, extra: string[] = []): Promise<Parts> {
  const parts: Parts = { linear: 0, ...Object.fromEntries(extra.map((name) => [name, 0])) };
  const linearFn = timedLinear(makeLinear(parts), parts);
  await gcEntriesDelivered();
  gcMs = 0;
  const faults = process.resourceUsage().minorPageFault;
  const total = timeOnce(() => {
    const y = tf.tidy(() => forward(linearFn));
    y.dataSync();
    y.dispose();
  });
  const pageFaults = process.resourceUsage().minorPageFault - faults;
  await gcEntriesDelivered();
  return { total, ...parts, other: total - parts.linear, gc: gcMs, pageFaults };
}

/** Sums kernel times by kernel name over one profiled forward pass. */
async function kernelTimes(forward: () => void): Promise<Map<string, number>> {
  const info = await tf.profile(forward);
  const times = new Map<string, number>();
  for (const kernel of info.kernels) {
    // ops and custom gradients appear as scopes around the kernels they run: count only kernels
    const ms = Number(kernel.kernelTimeMs);
    if (!Number.isFinite(ms) || !tf.getKernel(kernel.name, tf.getBackend())) continue;
    times.set(kernel.name, (times.get(kernel.name) ?? 0) + ms);
  }
  return times;
}

async function main(): Promise<void> {
  const backend = await initBackend();
  for (const line of describeMachine(backend)) console.log(line);

  const model = MODEL === 'codebert' ? codeBertBase() : gptNeo125m();
  const module = randomModule(model.linearLayers(), RETENTION, Math.round(RETENTION * 1000));
  const plan = buildSparsePlan(model, module);
  const forward = (linearFn: LinearFn) => model.forward(BATCH, SEQ, linearFn);
  console.log(
    `${model.name}, batch ${BATCH}, sequence ${SEQ}, ${(plan.retainedFraction * 100).toFixed(0)}% retained ` +
      `(${plan.paths.sparse} sparse, ${plan.paths.dense} dense layers); median of ${REPEATS} runs after 1 warm-up; load ${loadAverage()}\n`,
  );

  // one forward pass of each path per round, parts in milliseconds
  const variants: [string, (parts: Parts) => LinearFn, string[]][] = [
    ['dense', () => (_layer, x, weight, bias) => linear(x, weight, bias), []],
    ['sparse on the wasm heap', () => sparseLinear(plan), []],
    ['sparse reading back', (parts) => readBackLinear(plan, parts), ['read-back', 'kernel', 'upload']],
  ];
  const runs = new Map<string, Parts[]>(variants.map(([name]) => [name, []]));
  for (let round = 0; round <= REPEATS; round++) {
    for (const [name, makeLinear, extra] of variants) {
      const parts = await profileOnce(forward, makeLinear, extra);
      if (round > 0) runs.get(name)!.push(parts);
    }
  }
  console.log('| path | total | linear layers | everything else | of it, garbage collection | read-back | kernel | upload | minor page faults |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, parts] of runs) {
    const cell = (key: string, digits = 1) => (parts[0][key] === undefined ? '' : median(parts.map((entry) => entry[key])).toFixed(digits));
    console.log(
      `| ${name} | ${cell('total')} | ${cell('linear')} | ${cell('other')} | ${cell('gc')} | ${cell('read-back')} | ${cell('kernel')} | ${cell('upload')} | ${cell('pageFaults', 0)} |`,
    );
  }

  // the non-linear kernels, op by op
  const dense = await kernelTimes(() => tf.dispose(tf.tidy(() => forward((_layer, x, weight, bias) => linear(x, weight, bias)))));
  const sparse = await kernelTimes(() => tf.dispose(tf.tidy(() => forward(sparseLinear(plan)))));
  console.log('\n| kernel (tf.profile, one pass) | dense ms | sparse ms |');
  console.log('| --- | ---: | ---: |');
  const names = [...new Set([...dense.keys(), ...sparse.keys()])].sort((a, b) => (dense.get(b) ?? 0) - (dense.get(a) ?? 0));
  for (const name of names) console.log(`| ${name} | ${(dense.get(name) ?? 0).toFixed(1)} | ${(sparse.get(name) ?? 0).toFixed(1)} |`);
  console.log(`\nload average (1 min) at end: ${loadAverage()}`);

  plan.dispose();
  model.dispose();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
