import { fromFloat32, getLogger, toFloat32, type CheckpointReader, type RawTensor } from '@modularevo/core-tensor';

import type { ResolvedMergeConfig } from '../config';
import { ExcludeFilter } from '../exclude';
import { createMerger } from '../methods/registry';
import { mix32 } from '../random';
import { BatchReader } from './batch-reader';
import { BufferPool } from './buffers';
import { DistanceCheck } from './distance';
import type { Merger } from './merger';
import { planMerge, FLOAT_DTYPES, type MergePlan, type MergedTensor } from './plan';

const log = getLogger('merging');

/** Default entries per chunk for mergers that accept chunks: 512 KiB per float32 buffer. */
export const DEFAULT_CHUNK_ENTRIES = 1 << 17;

// Seconds between progress lines within one pass.
const PROGRESS_INTERVAL_SECONDS = 10;

/**
 * Receives the output tensors of a merge, one at a time. `tensor.data` may be a reused buffer
 * that is only valid during the call: a sink that keeps tensors must copy the data.
 */
export interface TensorSink {
  write(name: string, tensor: RawTensor): void;
}

/** Summary of one merge run. */
export interface MergeSummary {
  method: string;
  /** Number of merged tensors and of their entries. */
  mergedTensors: number;
  mergedEntries: number;
  /** Base tensors that were not merged (excluded by pattern, or not float). */
  unmerged: string[];
  /** Fine-tuned tensors the base lacks, left out. */
  leftOut: { model: number; name: string }[];
  /** `||ft - base|| / ||base||` per model, over the merged tensors. */
  distances: number[];
  /** Passes over the input files (prepare passes plus the merge pass). */
  passes: number;
  seconds: number;
}

/** Settings of one engine run besides the merge configuration. */
export interface RunOptions {
  /** Also write the unmerged base tensors, so the output is a complete model. */
  includeUnmerged: boolean;
  /** Entries read per chunk (default 2^17); results do not depend on it. */
  chunkEntries?: number;
}

/**
 * Merges `models` into `base` tensor by tensor and hands each output tensor to `sink`. Inputs are
 * read in chunks into reused buffers, so memory stays near one output tensor plus a few chunks
 * (whole tensors for mergers that need them). Every check (names, shapes, NaN and Inf, distance
 * from the base) runs before the sink receives a tensor or before this function returns, so a
 * caller that commits its output only on success never writes a partial or invalid model.
 */
export async function runMerge(
  base: CheckpointReader,
  models: readonly CheckpointReader[],
  config: ResolvedMergeConfig,
  sink: TensorSink,
  options: RunOptions,
): Promise<MergeSummary> {
  const started = performance.now();

  // planning
  const plan = planMerge(base, models, new ExcludeFilter(config.exclude));
  log.info(
    `Planning ${config.method} merge of ${models.length} models into ${base.path}: ${plan.merged.length} tensors ` +
      `(${plan.totalEntries} entries) merged, ${plan.unmerged.length} kept from the base, ${plan.leftOut.length} left out`,
  );
  const merger = await createMerger(config, { base, models, plan });
  const pool = new BufferPool();
  const reader = new BatchReader(base, models, pool);
  const check = new DistanceCheck(base, models);
  const chunkEntries = options.chunkEntries ?? DEFAULT_CHUNK_ENTRIES;
  let distances: number[] | undefined;
  let passes = 0;

  try {
    // prepare passes (the merger may add passes as it goes); the first full one measures distances
    for (let pass = 0; pass < merger.preparePasses; pass++) {
      const fraction = merger.sampleFraction?.(pass) ?? 1;
      const measure = fraction >= 1 && !distances ? check : undefined;
      const label = `pass ${pass + 1}/${merger.preparePasses + 1} (${merger.passName?.(pass) ?? 'prepare'})`;
      await forEachTensor(plan, label, (tensor) => {
        forEachChunk(tensor, merger, chunkEntries, (start, length) => {
          const [first, count] = sampleOf(tensor, start, length, fraction);
          merger.prepare?.(pass, reader.load(tensor, first, count, pool.float32('base', count), measure, merger.rowsAsDeltas));
        });
      });
      merger.finishPass?.(pass);
      if (measure) distances = check.verify(config.warnDistance, config.maxDistance, config.force);
      passes++;
    }

    // merge pass: each chunk's base values are read straight into the output tensor
    const measure = distances ? undefined : check;
    const mergeRowsAsDeltas = merger.mergeRowsAsDeltas ?? merger.rowsAsDeltas;
    await forEachTensor(plan, `pass ${passes + 1}/${passes + 1} (merge)`, (tensor) => {
      const output = pool.float32('output', tensor.numel);
      forEachChunk(tensor, merger, chunkEntries, (start, length) => {
        const target = output.subarray(start, start + length);
        const merged = merger.merge(reader.load(tensor, start, length, target, measure, mergeRowsAsDeltas));
        if (merged !== target) target.set(merged);
      });
      const dtype = config.dtype ?? tensor.dtype;
      sink.write(tensor.name, { dtype, shape: tensor.shape, data: fromFloat32(dtype, output) });
    });
    if (measure) distances = check.verify(config.warnDistance, config.maxDistance, config.force);
    passes++;
    merger.finish?.();
  } finally {
    reader.close();
  }

  // unmerged base tensors
  if (options.includeUnmerged) {
    for (const name of plan.unmerged) sink.write(name, convertUnmerged(base.read(name), config));
  }

  const seconds = (performance.now() - started) / 1000;
  log.info(`Merged ${plan.merged.length} tensors with ${config.method} in ${seconds.toFixed(2)} s (${passes} passes)`);
  return {
    method: config.method,
    mergedTensors: plan.merged.length,
    mergedEntries: plan.totalEntries,
    unmerged: plan.unmerged,
    leftOut: plan.leftOut,
    distances: distances ?? [],
    passes,
    seconds,
  };
}

function forEachChunk(tensor: MergedTensor, merger: Merger, chunkEntries: number, visit: (start: number, length: number) => void): void {
  const chunk = merger.wholeTensors ? Math.max(1, tensor.numel) : chunkEntries;
  for (let start = 0; start < tensor.numel; start += chunk) visit(start, Math.min(chunk, tensor.numel - start));
}

/**
 * Returns the part `[first, first + count)` of the chunk `[start, start + length)` that a pass
 * reading `fraction` of every chunk visits: a contiguous run at an offset that depends only on the
 * chunk's position, so the sample spreads over every tensor and is the same in every run.
 */
function sampleOf(tensor: MergedTensor, start: number, length: number, fraction: number): [number, number] {
  if (fraction >= 1) return [start, length];
  const count = Math.max(1, Math.ceil(length * fraction));
  const offset = mix32(tensor.offset + start) % (length - count + 1);
  return [start + offset, count];
}

function convertUnmerged(tensor: RawTensor, config: ResolvedMergeConfig): RawTensor {
  if (!config.dtype || !FLOAT_DTYPES.has(tensor.dtype) || tensor.dtype === config.dtype) return tensor;
  return { dtype: config.dtype, shape: tensor.shape, data: fromFloat32(config.dtype, toFloat32(tensor.dtype, tensor.data)) };
}

async function forEachTensor(plan: MergePlan, label: string, visit: (tensor: MergedTensor) => void): Promise<void> {
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  let lastReport = started;
  log.debug(`Starting ${label}`);
  for (let index = 0; index < plan.merged.length; index++) {
    const tensor = plan.merged[index];
    visit(tensor);
    const now = performance.now();
    if ((now - lastReport) / 1000 >= PROGRESS_INTERVAL_SECONDS) {
      lastReport = now;
      log.info(`${label}: ${index + 1}/${plan.merged.length} tensors, last "${tensor.name}"`);
    }
    // Yield so timers and signals run during long merges.
    if (index % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
  }
  const cpu = process.cpuUsage(cpuStarted);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  log.info(`Finished ${label} in ${((performance.now() - started) / 1000).toFixed(2)} s (CPU ${cpuSeconds.toFixed(2)} s)`);
}
