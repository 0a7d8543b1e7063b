/** Throughput and peak memory of a training run, as the workflow summaries report them. */
import * as tf from '@tensorflow/tfjs-core';

/** Largest memory use seen while a run was sampled. */
export interface PeakMemory {
  /** Resident set size of the process (`process.memoryUsage().rss`), in bytes. */
  rssBytes: number;
  /** Bytes held by tfjs tensors (`tf.memory().numBytes`), in bytes. */
  tensorBytes: number;
  /** Number of live tfjs tensors at the tensor-bytes peak. */
  tensors: number;
}

/** Keeps the peak of the process and tfjs memory over the samples taken. */
export class MemoryMonitor {
  private peak: PeakMemory = { rssBytes: 0, tensorBytes: 0, tensors: 0 };

  /** Records the current memory use. */
  sample(): void {
    const rss = process.memoryUsage().rss;
    const memory = tf.memory();
    if (rss > this.peak.rssBytes) this.peak.rssBytes = rss;
    if (memory.numBytes > this.peak.tensorBytes) {
      this.peak.tensorBytes = memory.numBytes;
      this.peak.tensors = memory.numTensors;
    }
  }

  /** Returns the peak so far. */
  result(): PeakMemory {
    return { ...this.peak };
  }
}

/** Training speed over the time spent in training steps. */
export interface Throughput {
  /** Optimizer steps per second. */
  stepsPerSecond: number;
  /** Tokens per second, counting the tokens of every training batch. */
  tokensPerSecond: number;
  /** Seconds spent in training steps (evaluation, checkpoints and snapshots excluded). */
  trainSeconds: number;
}

/** Returns steps and tokens per second, 0 when no time passed. */
export function throughput(steps: number, tokens: number, trainSeconds: number): Throughput {
  const per = (count: number) => (trainSeconds > 0 ? count / trainSeconds : 0);
  return { stepsPerSecond: per(steps), tokensPerSecond: per(tokens), trainSeconds };
}

/** Formats a byte count as MiB with one decimal, for logs. */
export function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
