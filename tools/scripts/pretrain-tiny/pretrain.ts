/**
 * Pretrains the built-in tiny GPT-Neo (`datasets/builtin/gpt-neo-tiny`) on the train splits of
 * the four built-in corpora, mixed, and writes it as a Hugging Face model folder. Next to the
 * weights, `training.json` records every setting, the machine, timings, the final train loss and
 * the test perplexity per domain against the unigram baseline. The same seed with the same
 * backend and kernels gives the same weights, byte for byte.
 *
 * Run: `nx run gptneo:pretrain-tiny` (defaults: about 25 minutes on 2 cores with the wasm
 * backend), or with options: `nx run gptneo:pretrain-tiny --max-steps=20 --out=/tmp/tiny`.
 * `--help` lists them.
 */
import * as path from 'path';

import {
  AdamW,
  createRng,
  getLogger,
  initBackend,
  linearScheduleWithWarmup,
  MismatchError,
  ModularEvoError,
  train,
  writeJsonAtomic,
  writeRunConfig,
  type StepReport,
} from '@modularevo/core-tensor';
import { loadTokenizer, BUILTIN_MODEL_FOLDER } from '@modularevo/datasets';
import { causalLMObjective, GPTNeoForCausalLM, gptNeoConfigToJson, parseGPTNeoConfig, saveModelFolder } from '@modularevo/gptneo';

import { epochBatches, loadPretrainingData, type PretrainingData } from './data';
import { evaluateDomains, perplexityMetrics, type DomainPerplexities } from './evaluate';
import { describeMachine, loadAverage, round } from './machine';
import { DEFAULT_SHAPE, tinyGenerationConfig, tinyGPTNeoConfig } from './model-config';
import { parsePretrainOptions, REPOSITORY, type PretrainOptions } from './options';
import { checkModelFolderReplaceable, clearPreviousRun, TRAINING_RECORD_FILE, weightsFileBytes } from './output';
import { countUnigrams, unigramPerplexity, type UnigramResult } from './unigram';

const log = getLogger('pretrain-tiny');

/** The shipped model must stay this small (bytes of `model.safetensors`). */
const MAX_WEIGHTS_BYTES = 16_000_000;

/** Training steps whose mean loss is recorded as the final train loss. */
const FINAL_LOSS_STEPS = 100;

/**
 * Test blocks per domain whose perplexity `training.json` also records, so that a quick test can
 * check the shipped weights against the record on the same blocks.
 */
const CHECK_SAMPLE_BLOCKS = 8;

async function main(): Promise<void> {
  const options = parsePretrainOptions(process.argv.slice(2));
  if (!options) return;
  const started = Date.now();

  // backend, config and tokenizer
  const backend = await initBackend();
  const machine = describeMachine(backend);
  const configJson = tinyGPTNeoConfig(DEFAULT_SHAPE);
  const config = parseGPTNeoConfig(configJson, 'tiny GPT-Neo config');
  checkBlockSize(options, config.max_position_embeddings, config.window_size);
  const tokenizerDir = path.join(options.data, BUILTIN_MODEL_FOLDER);
  const tokenizer = loadTokenizer(tokenizerDir);
  if (tokenizer.vocabSize !== config.vocab_size) {
    throw new MismatchError(`The tokenizer in ${tokenizerDir} has ${tokenizer.vocabSize} ids but the tiny GPT-Neo has vocab_size ${config.vocab_size}: rebuild the built-in data`);
  }
  checkModelFolderReplaceable(options.out);

  // data and the unigram baseline
  const data = await loadPretrainingData(options.data, tokenizer, options.blockSize);
  const trainBlocks = data.train.reduce((sum, domain) => sum + domain.blocks, 0);
  const stepsPerEpoch = Math.floor(trainBlocks / options.batchSize);
  log.info(`${trainBlocks} training blocks of ${options.blockSize} tokens: ${stepsPerEpoch} steps per epoch, ${(options.maxSteps / stepsPerEpoch).toFixed(2)} epochs`);
  const unigrams = countUnigrams(data.train, config.vocab_size);

  // run folder
  if (!options.resume) {
    const removed = clearPreviousRun(options.runDir);
    if (removed.length > 0) log.warn(`replaced the previous run in ${options.runDir} (${removed.join(', ')})`);
  }
  writeRunConfig(options.runDir, { ...settingsRecord(options), model_config: configJson, machine });

  // model and optimizer: weight matrices decay, biases and LayerNorm parameters do not (as the Hugging Face Trainer)
  const rng = createRng(options.seed);
  const initRng = rng.fork('init');
  const model = GPTNeoForCausalLM.fromConfig(config, () => initRng.uniform());
  const named = [...model.params.entries()];
  const decays = ([name]: [string, unknown]) => name.endsWith('.weight') && !/\.ln_(\d|f)\./.test(name);
  const optimizer = new AdamW(
    [
      { params: named.filter(decays).map(([, variable]) => variable) },
      { params: named.filter((entry) => !decays(entry)).map(([, variable]) => variable), weightDecay: 0 },
    ],
    { lr: options.learningRate, weightDecay: options.weightDecay },
  );
  const parameterCount = named.reduce((sum, [, variable]) => sum + variable.size, 0);
  log.info(`tiny GPT-Neo: ${parameterCount} parameters, ${config.num_layers} layers (${config.attention_layers.join(', ')}), hidden ${config.hidden_size}`);

  // training (a resumed run counts only the steps of this call, because only they are timed)
  const recentLosses: number[] = [];
  let stepsThisCall = 0;
  const dataRng = rng.fork('data');
  const summary = await train({
    maxSteps: options.maxSteps,
    batches: (epoch) => epochBatches(data.train, options.batchSize, options.blockSize, dataRng.fork(`epoch-${epoch}`)),
    lossFn: (batch) => causalLMObjective(model, batch),
    parameters: named.map(([, variable]) => variable),
    optimizer,
    schedule: linearScheduleWithWarmup(options.warmupSteps, options.maxSteps),
    maxGradNorm: options.maxGradNorm,
    evaluate: () => perplexityMetrics(evaluateDomains(model, data.test, options.blockSize, options.batchSize, options.evalBlocks)),
    evalEvery: options.evalEvery,
    runDir: options.runDir,
    saveEvery: options.saveEvery,
    resume: options.resume,
    countTokens: (batch) => batch.inputIds.length * options.blockSize,
    onStep: (report: StepReport) => {
      stepsThisCall += 1;
      recentLosses.push(report.loss);
      if (recentLosses.length > FINAL_LOSS_STEPS) recentLosses.shift();
    },
    progress: !options.noProgress,
    label: 'pretrain-tiny',
  });

  // final evaluation on every test block, against the unigram baselines
  log.info('evaluating on every test block');
  const evaluationStarted = Date.now();
  const test = evaluateDomains(model, data.test, options.blockSize, options.batchSize);
  const checkSample = evaluateDomains(model, data.test, options.blockSize, options.batchSize, CHECK_SAMPLE_BLOCKS);
  const evaluationSeconds = (Date.now() - evaluationStarted) / 1000;
  const baselines = unigramBaselines(data, unigrams, config.vocab_size);

  // model folder with its record
  const record = {
    model: BUILTIN_MODEL_FOLDER,
    command: 'nx run gptneo:pretrain-tiny',
    script: path.relative(REPOSITORY, __filename).replace(/\.js$/, '.ts'),
    settings: settingsRecord(options),
    parameters: parameterCount,
    data: dataRecord(data, options),
    results: {
      steps: summary.steps,
      epochs: round((summary.steps * options.batchSize) / trainBlocks, 3),
      tokens_seen: summary.steps * options.batchSize * options.blockSize,
      resumed: options.resume,
      wall_time_seconds: round((Date.now() - started) / 1000, 1),
      train_seconds: round(summary.trainSeconds, 1),
      final_evaluation_seconds: round(evaluationSeconds, 1),
      seconds_per_step: round(summary.trainSeconds / Math.max(1, stepsThisCall), 4),
      train_tokens_per_second: round(summary.tokensPerSecond ?? 0, 1),
      final_train_loss: round(mean(recentLosses), 4),
      final_train_loss_steps: recentLosses.length,
      test: testRecord(test, baselines),
      check_sample: {
        blocks_per_domain: CHECK_SAMPLE_BLOCKS,
        selection: 'block floor(i * blocks / n) of the test split, for i = 0 .. n-1',
        perplexity: Object.fromEntries(Object.entries(checkSample.domains).map(([name, result]) => [name, round(result.perplexity, 4)])),
      },
    },
    machine: { ...machine, load_average_end: loadAverage() },
  };
  await saveModelFolder(options.out, {
    config: gptNeoConfigToJson(model.config),
    state: model.stateDict(),
    tokenizerFrom: tokenizerDir,
    json: { 'generation_config.json': tinyGenerationConfig(), [TRAINING_RECORD_FILE]: record },
    overwrite: true,
  });
  writeJsonAtomic(path.join(options.runDir, TRAINING_RECORD_FILE), record);

  // summary
  const bytes = weightsFileBytes(options.out);
  logResults(test, baselines, bytes, record.results.wall_time_seconds, options.out);
  if (bytes > MAX_WEIGHTS_BYTES) log.warn(`model.safetensors has ${bytes} bytes, more than the ${MAX_WEIGHTS_BYTES} the built-in model may have`);
}

function checkBlockSize(options: PretrainOptions, maxPositions: number, window: number): void {
  if (options.blockSize > maxPositions) {
    throw new MismatchError(`--block-size ${options.blockSize} exceeds max_position_embeddings ${maxPositions} of the tiny GPT-Neo: use at most ${maxPositions}`);
  }
  if (options.blockSize <= window) {
    log.warn(`--block-size ${options.blockSize} is not larger than window_size ${window}, so local attention layers see the whole block and train as global ones`);
  }
}

function settingsRecord(options: PretrainOptions): Record<string, unknown> {
  return {
    seed: options.seed,
    max_steps: options.maxSteps,
    per_device_train_batch_size: options.batchSize,
    block_size: options.blockSize,
    learning_rate: options.learningRate,
    lr_scheduler_type: 'linear',
    warmup_steps: options.warmupSteps,
    optimizer: 'adamw',
    adam_beta1: 0.9,
    adam_beta2: 0.999,
    adam_epsilon: 1e-8,
    weight_decay: options.weightDecay,
    weight_decay_excludes: 'biases and LayerNorm parameters',
    max_grad_norm: options.maxGradNorm,
    eval_steps: options.evalEvery,
    eval_blocks_per_domain: options.evalBlocks,
    save_steps: options.saveEvery,
    data: path.relative(REPOSITORY, options.data) || '.',
  };
}

function dataRecord(data: PretrainingData, options: PretrainOptions): Record<string, unknown> {
  const domains: Record<string, unknown> = {};
  for (let i = 0; i < data.train.length; i++) {
    const train = data.train[i];
    const test = data.test[i];
    domains[train.domain] = {
      train_documents: train.documents,
      train_tokens: train.tokens,
      train_blocks: train.blocks,
      test_documents: test.documents,
      test_tokens: test.tokens,
      test_blocks: test.blocks,
    };
  }
  return {
    mixing: `the train blocks of every domain in one shuffled order per epoch (random stream "data/epoch-<n>" of seed ${options.seed}); the last partial batch of an epoch is dropped`,
    blocks: `documents joined with <|endoftext|> (id 8191) and cut into blocks of ${options.blockSize} tokens; the last partial block of each split is dropped`,
    domains,
  };
}

interface Baselines {
  /** Unigram counts of every training block (the mixture the model trained on). */
  mixed: Record<string, UnigramResult>;
  /** Unigram counts of the domain's own training blocks, a stricter baseline. */
  domain: Record<string, UnigramResult>;
}

function unigramBaselines(data: PretrainingData, mixedCounts: ReturnType<typeof countUnigrams>, vocabSize: number): Baselines {
  const mixed: Record<string, UnigramResult> = { overall: unigramPerplexity(mixedCounts, data.test, data.blockSize) };
  const domain: Record<string, UnigramResult> = {};
  for (let i = 0; i < data.test.length; i++) {
    const name = data.test[i].domain;
    mixed[name] = unigramPerplexity(mixedCounts, [data.test[i]], data.blockSize);
    domain[name] = unigramPerplexity(countUnigrams([data.train[i]], vocabSize), [data.test[i]], data.blockSize);
  }
  return { mixed, domain };
}

function testRecord(test: DomainPerplexities, baselines: Baselines): Record<string, unknown> {
  const entry = (name: string, loss: number, perplexity: number, tokens: number) => ({
    loss: round(loss, 4),
    perplexity: round(perplexity, 2),
    tokens,
    unigram_perplexity: round(baselines.mixed[name].perplexity, 2),
    ...(baselines.domain[name] ? { domain_unigram_perplexity: round(baselines.domain[name].perplexity, 2) } : {}),
  });
  const record: Record<string, unknown> = {};
  for (const [name, result] of Object.entries(test.domains)) record[name] = entry(name, result.loss, result.perplexity, result.tokens);
  record.overall = entry('overall', test.overall.loss, test.overall.perplexity, test.overall.tokens);
  return record;
}

function logResults(test: DomainPerplexities, baselines: Baselines, bytes: number, wallSeconds: number, out: string): void {
  const rows = [...Object.entries(test.domains), ['overall', test.overall] as const];
  for (const [name, result] of rows) {
    const domainBaseline = baselines.domain[name] ? `, domain unigram ${baselines.domain[name].perplexity.toFixed(1)}` : '';
    log.info(`test ${name}: perplexity ${result.perplexity.toFixed(2)} (unigram ${baselines.mixed[name].perplexity.toFixed(1)}${domainBaseline}) on ${result.tokens} tokens`);
  }
  log.info(`wrote ${out} (model.safetensors ${(bytes / 1e6).toFixed(2)} MB) after ${(wallSeconds / 60).toFixed(1)} min`);
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
}

main().catch((error) => {
  if (error instanceof ModularEvoError) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exitCode = 1;
    return;
  }
  throw error;
});
