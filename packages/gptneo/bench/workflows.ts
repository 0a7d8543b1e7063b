/**
 * Times the two GPT-Neo workflows end to end on a small random GPT-Neo and the built-in offline
 * data: modularization on the built-in `math` corpus, then fine-tuning on `math-topic`, guided
 * by the module and in full. Prints steps per second, tokens per second and peak memory of
 * each, as the workflow summaries measure them (evaluation and snapshot time excluded).
 *
 * Run: `npm run bench:workflows -w @modularevo/gptneo` (after `npm run build`).
 * `BENCH_STEPS` sets the optimizer steps of each run (default 60). The model has hidden size 64,
 * 4 blocks, 4 heads, the built-in tokenizer's 8192-token vocabulary and 128 positions.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { createRng, initBackend, setLogLevel } from '@modularevo/core-tensor';
import { builtinCorpus, builtinModelDir, builtinTask, loadTokenizer } from '@modularevo/datasets';
import { finetune, formatMiB, modularize, type PeakMemory, type Throughput } from '@modularevo/masking';

import { architecture } from '../src/architecture';
import { parseGPTNeoConfig } from '../src/config';
import { GPTNeoForCausalLM } from '../src/model';

const STEPS = Number(process.env.BENCH_STEPS ?? 60);

function line(label: string, throughput: Throughput, memory: PeakMemory, extra: string): void {
  console.log(
    `${label.padEnd(28)} ${throughput.stepsPerSecond.toFixed(2).padStart(6)} steps/s ${throughput.tokensPerSecond.toFixed(0).padStart(7)} tokens/s ` +
      `peak rss ${formatMiB(memory.rssBytes).padStart(10)} peak tensors ${formatMiB(memory.tensorBytes).padStart(9)}  ${extra}`,
  );
}

async function main(): Promise<void> {
  await initBackend();
  setLogLevel('warn');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptneo-workflows-'));

  // a random model with the built-in tokenizer
  const tokenizerDir = builtinModelDir();
  const config = parseGPTNeoConfig({
    model_type: 'gpt_neo',
    vocab_size: loadTokenizer(tokenizerDir).vocabSize,
    max_position_embeddings: 128,
    hidden_size: 64,
    num_layers: 4,
    num_heads: 4,
    attention_types: [[['global', 'local'], 2]],
    window_size: 32,
  });
  const rng = createRng(7).fork('bench-weights');
  const model = GPTNeoForCausalLM.fromConfig(config, () => rng.uniform());
  const modelDir = path.join(dir, 'model');
  await model.savePretrained(modelDir, { tokenizerFrom: tokenizerDir });
  model.dispose();

  console.log(`GPT-Neo hidden 64, 4 blocks, vocabulary ${config.vocab_size}; backend ${tf.getBackend()}; ${os.cpus().length} cores (${os.cpus()[0].model}); load average ${os.loadavg()[0].toFixed(1)}`);

  // modularization: batch 4 x 64 tokens
  const corpus = builtinCorpus('math');
  const modules = await modularize({
    architecture,
    model: modelDir,
    domain: 'math',
    corpus: { train: corpus.files.train, test: corpus.files.test },
    outDir: path.join(dir, 'modules'),
    blockSize: 64,
    batchSize: 4,
    maxSteps: STEPS,
    thresholds: [0.99],
    maxEvalBlocks: 32,
    progress: false,
  });
  line('modularize (4 x 64)', modules.throughput, modules.memory, `${modules.steps} steps, retention ${(modules.finalRetentionRate * 100).toFixed(1)}%`);

  // fine-tuning: batch 16, inputs up to 64 tokens. The first run of a process is slower (kernel
  // set-up, first allocations), so an untimed short run goes first.
  const task = builtinTask('math-topic');
  const runs: ['warm-up' | 'module' | 'full', number][] = [['warm-up', 5], ['module', STEPS], ['full', STEPS]];
  for (const [strategy, steps] of runs) {
    const summary = await finetune({
      architecture,
      model: modelDir,
      task: 'math-topic',
      data: path.dirname(task.files.train),
      ...(strategy === 'module' ? { module: modules.modules.final } : { full: true }),
      outDir: path.join(dir, `finetune-${strategy}`),
      batchSize: 16,
      maxLength: 64,
      maxSteps: steps,
      lr: 1e-3,
      progress: false,
    });
    if (strategy !== 'warm-up') {
      line(`finetune ${strategy} (16 x <=64)`, summary.throughput, summary.memory, `${summary.training.steps} steps, test accuracy ${summary.test?.accuracy.toFixed(3)}`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
