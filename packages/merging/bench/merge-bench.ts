/**
 * Times file-to-file merges of GPT-Neo-125M-shaped checkpoints. The script builds a random F32
 * base model and two fine-tuned models on disk, then runs task arithmetic, TIES, DARE and average
 * merging, each in its own child process so that the peak RSS is that method's own. It prints
 * seconds, CPU seconds and peak RSS per method. Run it with `nx run merging:bench` (which builds
 * first) or `npm run bench -w @modularevo/merging`.
 *
 * Environment: MERGE_BENCH_DIR keeps the generated models there (default: a temporary folder,
 * removed at the end); MERGE_BENCH_METHODS limits the methods (comma-separated names below);
 * MERGE_BENCH_REPEATS sets the runs per method (default 3), of which the fastest is printed with
 * the highest peak RSS of all runs.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { SafetensorsWriter } from '@modularevo/core-tensor';

// GPT-Neo 125M (EleutherAI/gpt-neo-125m) parameter shapes
const HIDDEN = 768;
const LAYERS = 12;
const VOCAB = 50257;
const POSITIONS = 2048;
const INTERMEDIATE = 4 * HIDDEN;

const METHODS: Record<string, string[]> = {
  task_arithmetic: ['--method', 'task_arithmetic', '--coefficients', '0.7,0.9'],
  ties: ['--method', 'ties', '--trim', '0.75', '--coefficients', '1,1'],
  dare: ['--method', 'dare', '--drop', '0.75', '--drop-strategy', 'random', '--apply', 'task_arithmetic'],
  average: ['--method', 'average'],
};

function gptNeoShapes(): [string, number[]][] {
  const shapes: [string, number[]][] = [
    ['transformer.wte.weight', [VOCAB, HIDDEN]],
    ['transformer.wpe.weight', [POSITIONS, HIDDEN]],
  ];
  for (let layer = 0; layer < LAYERS; layer++) {
    const prefix = `transformer.h.${layer}`;
    shapes.push(
      [`${prefix}.ln_1.weight`, [HIDDEN]],
      [`${prefix}.ln_1.bias`, [HIDDEN]],
      [`${prefix}.attn.attention.k_proj.weight`, [HIDDEN, HIDDEN]],
      [`${prefix}.attn.attention.v_proj.weight`, [HIDDEN, HIDDEN]],
      [`${prefix}.attn.attention.q_proj.weight`, [HIDDEN, HIDDEN]],
      [`${prefix}.attn.attention.out_proj.weight`, [HIDDEN, HIDDEN]],
      [`${prefix}.attn.attention.out_proj.bias`, [HIDDEN]],
      [`${prefix}.ln_2.weight`, [HIDDEN]],
      [`${prefix}.ln_2.bias`, [HIDDEN]],
      [`${prefix}.mlp.c_fc.weight`, [INTERMEDIATE, HIDDEN]],
      [`${prefix}.mlp.c_fc.bias`, [INTERMEDIATE]],
      [`${prefix}.mlp.c_proj.weight`, [HIDDEN, INTERMEDIATE]],
      [`${prefix}.mlp.c_proj.bias`, [HIDDEN]],
    );
  }
  shapes.push(['transformer.ln_f.weight', [HIDDEN]], ['transformer.ln_f.bias', [HIDDEN]]);
  return shapes;
}

/** xorshift32 uniform in [-1, 1): fast enough to fill 375M floats. */
function randomFill(values: Float32Array, seed: number, scale: number, offset?: Float32Array): void {
  let state = seed | 1;
  for (let i = 0; i < values.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const uniform = (state >>> 0) / 2147483648 - 1;
    values[i] = (offset ? offset[i] : 0) + scale * uniform;
  }
}

/** Writes base, ft_a and ft_b (fine-tuned = base + 1% noise) as model folders under `dir`. */
function buildModels(dir: string): void {
  const shapes = gptNeoShapes();
  const specs = shapes.map(([name, shape]) => ({ name, dtype: 'F32' as const, shape }));
  const folders = ['base', 'ft_a', 'ft_b'].map((name) => path.join(dir, name));
  for (const folder of folders) {
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(
      path.join(folder, 'config.json'),
      JSON.stringify({ model_type: 'gpt_neo', hidden_size: HIDDEN, num_layers: LAYERS, vocab_size: VOCAB, max_position_embeddings: POSITIONS }),
    );
  }
  const writers = folders.map((folder) => new SafetensorsWriter(path.join(folder, 'model.safetensors'), specs));
  shapes.forEach(([name, shape], index) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const base = new Float32Array(count);
    randomFill(base, 1000 + index, 0.05);
    writers[0].write(name, { dtype: 'F32', data: base });
    for (let model = 1; model < 3; model++) {
      const tuned = new Float32Array(count);
      randomFill(tuned, 7919 * model + index, 0.0005, base);
      writers[model].write(name, { dtype: 'F32', data: tuned });
    }
  });
  writers.forEach((writer) => writer.commit());
}

/** Runs one merge in a child process and returns its seconds (merge only) and peak RSS in bytes. */
function runChild(dir: string, args: string[] | undefined): { seconds: number; cpuSeconds: number; peakRss: number } {
  const entry = path.resolve(__dirname, '..', 'dist', 'index.js');
  const out = path.join(dir, `out-${Date.now()}`);
  const script = `
    const { createMergeCommand } = require(${JSON.stringify(entry)});
    const args = JSON.parse(process.argv[1]);
    (async () => {
      const started = performance.now();
      const cpuStart = process.cpuUsage();
      if (args) await createMergeCommand().parseAsync(args, { from: 'user' });
      const seconds = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpuStart);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      process.stderr.write(JSON.stringify({ seconds, cpuSeconds, peakRss: process.resourceUsage().maxRSS * 1024 }) + '\\n');
    })().catch((error) => { console.error(error); process.exit(1); });`;
  const fullArgs = args ? [...args, '--base', path.join(dir, 'base'), '--models', `${path.join(dir, 'ft_a')},${path.join(dir, 'ft_b')}`, '--out', out] : null;
  const child = spawnSync(process.execPath, ['-e', script, JSON.stringify(fullArgs)], {
    encoding: 'utf8',
    env: { ...process.env, MODULAREVO_LOG_LEVEL: 'warn' },
  });
  fs.rmSync(out, { recursive: true, force: true });
  if (child.status !== 0) throw new Error(`merge child failed: ${child.stderr}`);
  const line = child.stderr.trim().split('\n').pop()!;
  return JSON.parse(line);
}

function mebibytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

function main(): void {
  const keep = process.env.MERGE_BENCH_DIR;
  const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'merge-bench-'));
  const methods = (process.env.MERGE_BENCH_METHODS ?? Object.keys(METHODS).join(',')).split(',');
  const repeats = Number(process.env.MERGE_BENCH_REPEATS ?? 3);
  try {
    if (!fs.existsSync(path.join(dir, 'ft_b', 'model.safetensors'))) {
      const started = performance.now();
      buildModels(dir);
      console.log(`built base and 2 fine-tuned GPT-Neo-125M-shaped F32 models in ${((performance.now() - started) / 1000).toFixed(1)} s (${dir})`);
    }
    console.log(`node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0].model}), file-to-file merge of 2 models into the base`);

    const idle = runChild(dir, undefined);
    console.log(`load average before the runs: ${os.loadavg().map((load) => load.toFixed(2)).join(', ')}`);
    console.log(`best of ${repeats} runs per method`);
    console.log(`${'method'.padEnd(16)} ${'seconds'.padStart(8)} ${'CPU s'.padStart(8)} ${'peak RSS'.padStart(10)}`);
    console.log(`${'(node + package)'.padEnd(16)} ${'-'.padStart(8)} ${'-'.padStart(8)} ${mebibytes(idle.peakRss).padStart(10)}`);
    for (const method of methods) {
      // the fastest of several runs, since other processes on the machine slow single runs down
      const runs = Array.from({ length: repeats }, () => runChild(dir, METHODS[method]));
      const best = runs.reduce((fastest, run) => (run.seconds < fastest.seconds ? run : fastest));
      const peakRss = Math.max(...runs.map((run) => run.peakRss));
      console.log(
        `${method.padEnd(16)} ${best.seconds.toFixed(2).padStart(8)} ${best.cpuSeconds.toFixed(2).padStart(8)} ${mebibytes(peakRss).padStart(10)}`,
      );
    }
  } finally {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
