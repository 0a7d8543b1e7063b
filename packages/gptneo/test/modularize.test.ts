/**
 * Modularization of the tiny GPT-Neo fixture on the DM Mathematics subset, through the generic
 * modularizer of `@modularevo/masking`.
 *
 * The runs use lr 0.1 (20 times the default 0.005), alpha 10 (the value in the module folder
 * names of ModularEvo's GPT-Neo fine-tuning scripts) and a constant learning rate after warm-up.
 * So the retention rate crosses 0.25 within about 40 steps instead of several hundred, although
 * the language-modelling gradient of this random model pushes back hard on the retention loss.
 */
import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, initBackend, InvalidInputError, MismatchError, readMetrics, setLogLevel } from '@modularevo/core-tensor';
import {
  describePretrainedModel,
  evaluateLanguageModel,
  loadModule,
  maskableLayers,
  maskedLinear,
  MaskScores,
  modularize,
  type ModularizeOptions,
  type ModularizeSummary,
} from '@modularevo/masking';
import { dataset, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { architecture } from '../src/architecture';
import { GPTNeoForCausalLM } from '../src/model';
import { causalLM } from '../src/modularization-objective';

const [fixture] = modelFixturesOfType('gpt_neo');
const THRESHOLDS = [0.75, 0.5, 0.25];
const EVAL_BLOCKS = 64;

// The module may be worse than the unmasked model by at most this many nats per token on the
// test split. (On this random model masking helps: the module ends about 6 nats lower.)
const LOSS_MARGIN = 0.5;

/** Settings of the runs in this file, as `modularize` takes them. */
function settings(outDir: string, change: Partial<ModularizeOptions> = {}): ModularizeOptions {
  return {
    architecture,
    model: fixture.dir,
    domain: 'math',
    corpus: dataset('dm_mathematics'),
    outDir,
    blockSize: 32,
    batchSize: 4,
    lr: 0.1,
    alpha: 10,
    scheduler: 'constant_with_warmup',
    maxSteps: 50,
    maxEvalBlocks: EVAL_BLOCKS,
    progress: false,
    ...change,
  };
}

function readJson(file: string): any {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// Training runs take several seconds, more on a loaded machine. Run from the repository root,
// Jest ignores the preset's per-project testTimeout and applies its 5 s default.
jest.setTimeout(300_000);

beforeAll(async () => {
  await initBackend();
  setLogLevel('warn');
});
afterAll(() => setLogLevel('info'));

describe('modularize gptneo on dm_mathematics', () => {
  const outDir = path.join(temporaryDir(), 'modules');
  let summary: ModularizeSummary;
  let model: GPTNeoForCausalLM;

  beforeAll(async () => {
    summary = await modularize(settings(outDir));
    model = GPTNeoForCausalLM.fromPretrained(fixture.dir);
  });
  afterAll(() => model.dispose());

  it('drives the retention rate below 0.25', () => {
    expect(summary.steps).toBe(50);
    expect(summary.finalRetentionRate).toBeLessThan(0.25);
    expect(Object.keys(summary.modules)).toEqual(['wrr_0.75', 'wrr_0.5', 'wrr_0.25', 'final']);
  });

  it('saves each snapshot the first time its threshold is reached', () => {
    const metrics = readMetrics(path.join(outDir, 'metrics.jsonl'));
    expect(metrics.map((line) => line.step)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));

    THRESHOLDS.forEach((threshold, i) => {
      const snapshot = summary.snapshots[i];
      const firstStep = metrics.find((line) => (line.wrr as number) <= threshold)!.step;
      expect({ threshold, step: snapshot.step }).toEqual({ threshold, step: firstStep });
      expect(snapshot.weightRetentionRate).toBeLessThanOrEqual(threshold);
      expect(snapshot.weightRetentionRate).toBe(metrics[firstStep - 1].wrr);
    });
  });

  it('writes module.json with identity, settings and test losses', () => {
    const identity = describePretrainedModel(model);
    const vocabularyLoss = Math.log(model.config.vocab_size);
    for (const threshold of [...THRESHOLDS, null]) {
      const name = threshold === null ? 'final' : `wrr_${threshold}`;
      const json = readJson(path.join(outDir, name, 'module.json'));
      const snapshot = summary.snapshots.find((record) => record.name === name)!;

      expect({ name, domain: json.domain, threshold: json.threshold }).toEqual({ name, domain: 'math', threshold });
      expect(json.base_model.weights_sha256).toBe(identity.weightsSha256);
      expect(json.base_model.config.model_type).toBe('gpt_neo');
      expect(json.weight_retention_rate).toBe(snapshot.weightRetentionRate);
      expect(json.training).toMatchObject({ architecture: 'gptneo', objective: 'causal-lm', learning_rate: 0.1, alpha: 10, step: snapshot.step, seed: 1203 });
      expect(json.scores_file).toBe('scores.safetensors');
      expect(json.masked_parameters.map((parameter: { name: string }) => parameter.name)).toContain('lm_head.weight');

      // the module stays close to the model, and far better than a uniform guess
      const { module, model: unmasked } = json.evaluation;
      expect(unmasked.loss).toBe(summary.modelEvaluation.loss);
      expect(module.loss).toBeLessThanOrEqual(unmasked.loss + LOSS_MARGIN);
      expect(module.loss).toBeLessThan(vocabularyLoss);
      expect(module.perplexity).toBeCloseTo(Math.exp(module.loss), 6);
    }
  });

  it('records a loss the saved module reproduces', async () => {
    const module = loadModule(path.join(outDir, 'final'), { base: describePretrainedModel(model) });
    const scores = MaskScores.fromValues(maskableLayers(model, architecture.taskHeadPattern), module.scores!);
    try {
      const texts = (fs.readFileSync(path.join(dataset('dm_mathematics'), 'test.jsonl'), 'utf8').trim().split('\n')).map((line) => JSON.parse(line).text);
      const test = causalLM.prepare(model, texts, { blockSize: 32, batchSize: 4, seed: 1203, maxBlocks: EVAL_BLOCKS });
      const evaluation = await evaluateLanguageModel(architecture.objective, model, test, maskedLinear(scores, 'binary'));
      expect(Math.abs(evaluation.loss - (module.evaluation as any).module.loss)).toBeLessThan(1e-5);
    } finally {
      scores.dispose();
    }
  });

  it('logs losses and retention per step and writes the run files', () => {
    const metrics = readMetrics(path.join(outDir, 'metrics.jsonl'));
    for (const line of metrics) {
      expect(Number.isFinite(line.loss)).toBe(true);
      expect(Number.isFinite(line.lm_loss)).toBe(true);
      expect(line.loss as number).toBeCloseTo((line.lm_loss as number) + 10 * (line.loss_wrr as number), 4);
    }
    expect(metrics[0].wrr as number).toBeGreaterThan(0.9);
    expect(metrics[49].lm_loss as number).toBeLessThan(metrics[0].lm_loss as number);

    const written = readJson(path.join(outDir, 'summary.json'));
    expect(written.modules).toEqual(summary.modules);
    expect(written.throughput.stepsPerSecond).toBeGreaterThan(0);
    expect(written.memory.rssBytes).toBeGreaterThan(0);
    expect(readJson(path.join(outDir, 'config.json'))).toMatchObject({ domain: 'math', block_size: 32, thresholds: THRESHOLDS });
  });

  it('resumes an interrupted run to the same modules', async () => {
    const resumedDir = path.join(temporaryDir(), 'modules');
    await modularize(settings(resumedDir, { maxSteps: 20 }));
    expect(fs.existsSync(path.join(resumedDir, 'wrr_0.25'))).toBe(false);

    const resumed = await modularize(settings(resumedDir, { resume: true }));
    expect(resumed.steps).toBe(50);
    expect(resumed.snapshots.map((record) => [record.name, record.step])).toEqual(summary.snapshots.map((record) => [record.name, record.step]));
    for (const name of ['wrr_0.25', 'final']) {
      const masks = (dir: string) => fs.readFileSync(path.join(dir, name, 'masks.safetensors'));
      expect({ name, equal: masks(resumedDir).equals(masks(outDir)) }).toEqual({ name, equal: true });
    }
    expect(readMetrics(path.join(resumedDir, 'metrics.jsonl')).map((line) => line.step)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
});

describe('modularize rejects bad input before writing', () => {
  const cases: [string, (dir: string) => Partial<ModularizeOptions>, jest.Constructable, RegExp][] = [
    ['a threshold of 1', () => ({ thresholds: [0.75, 1] }), InvalidInputError, /Invalid threshold 1: .* strictly between 0 and 1/],
    ['a threshold of 0', () => ({ thresholds: [0] }), InvalidInputError, /Invalid threshold 0/],
    ['a corpus without a text field', (dir) => ({ corpus: writeCorpus(dir, [{ content: 'x' }]) }), CheckpointError, /line 1 has no "text" string field \(it has content\)/],
    ['an empty split', () => ({ corpus: { train: dataset('dm_mathematics'), test: [] } }), InvalidInputError, /test split of the corpus .* has no documents/],
    ['a corpus shorter than one block', (dir) => ({ corpus: writeCorpus(dir, [{ text: '1 + 1' }]) }), InvalidInputError, /fewer than one block of 32/],
    ['a model folder that does not load', (dir) => ({ model: writeBrokenModel(dir) }), CheckpointError, /folder contains no model weights/],
    ['a model of another architecture', () => ({ model: modelFixturesOfType('roberta')[0].dir }), MismatchError, /model_type "roberta" .* architecture gptneo loads gpt_neo/],
    ['resume without a checkpoint', () => ({ resume: true }), InvalidInputError, /Cannot resume: the run folder .* has no training checkpoint/],
  ];

  it.each(cases)('rejects %s', async (_case, change, errorClass, message) => {
    const dir = temporaryDir();
    const outDir = path.join(dir, 'modules');
    const run = modularize(settings(outDir, change(dir)));
    await expect(run).rejects.toThrow(errorClass);
    await expect(modularize(settings(outDir, change(dir)))).rejects.toThrow(message);
    expect(fs.existsSync(outDir)).toBe(false);
  });

  it('rejects a module folder of an earlier run', async () => {
    const outDir = path.join(temporaryDir(), 'modules');
    fs.mkdirSync(path.join(outDir, 'final'), { recursive: true });
    await expect(modularize(settings(outDir))).rejects.toThrow(/already contains modules \(final\); resume that run, choose another folder, or pass overwrite/);
    expect(fs.readdirSync(outDir)).toEqual(['final']);
  });
});

/** Writes a corpus folder with `records` as both splits and returns it. */
function writeCorpus(dir: string, records: object[]): string {
  const corpus = path.join(dir, 'corpus');
  fs.mkdirSync(corpus, { recursive: true });
  for (const split of ['train', 'test']) fs.writeFileSync(path.join(corpus, `${split}.jsonl`), records.map((record) => JSON.stringify(record)).join('\n') + '\n');
  return corpus;
}

/** Writes a GPT-Neo folder with a config but no weights and returns it. */
function writeBrokenModel(dir: string): string {
  const model = path.join(dir, 'broken-model');
  fs.mkdirSync(model, { recursive: true });
  fs.copyFileSync(path.join(fixture.dir, 'config.json'), path.join(model, 'config.json'));
  return model;
}
