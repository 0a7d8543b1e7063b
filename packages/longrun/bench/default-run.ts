/**
 * Times the built-in default run, `modularevo evolve` with no task or domain: the whole run's
 * wall time, the time per step kind, tfjs memory at the end, and the final mean scores.
 *
 *   npm run bench -w @modularevo/longrun -- [--model DIR] [--out DIR]
 *
 * `--model` replaces the built-in tiny GPT-Neo, for example by a random model of the same
 * configuration. `--out` keeps the run folder; by default the run goes to a temporary folder,
 * which is removed at the end.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { evolve, formatFinalScores, readRunState } from '../src';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const index = args.indexOf(name);
    return index >= 0 ? args[index + 1] : undefined;
  };
  const model = option('--model');
  const keep = option('--out');
  const out = keep ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'modularevo-bench-')), 'run');

  const started = Date.now();
  const result = await evolve({ config: { model, out }, progress: false });
  const seconds = (Date.now() - started) / 1000;

  // time per step kind, from the run state
  const byKind = new Map<string, { steps: number; seconds: number }>();
  for (const step of readRunState(out).finished) {
    const kind = step.id.split('/')[1];
    const entry = byKind.get(kind) ?? { steps: 0, seconds: 0 };
    entry.steps += 1;
    entry.seconds += step.seconds;
    byKind.set(kind, entry);
  }

  const memory = tf.memory();
  const lines = [
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), load average ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}, Node ${process.version}, tfjs backend ${tf.getBackend()}`,
    `model: ${result.settings.model}`,
    `wall time of the whole run: ${seconds.toFixed(1)} s`,
    ...[...byKind].map(([kind, { steps, seconds: total }]) => `  ${kind.padEnd(9)} ${String(steps).padStart(3)} steps  ${total.toFixed(1).padStart(7)} s  (${(total / steps).toFixed(2)} s per step)`),
    `tfjs memory at the end: ${memory.numTensors} tensors, ${(memory.numBytes / 2 ** 20).toFixed(1)} MiB`,
    formatFinalScores(result.summary).trimEnd(),
    `report: ${result.report}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!keep) fs.rmSync(path.dirname(out), { recursive: true, force: true });
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
