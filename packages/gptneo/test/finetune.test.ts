/**
 * Mask-guided and full fine-tuning of the tiny GPT-Neo fixture on the MathQA subset, through the
 * generic fine-tuner of `@modularevo/masking`. `dev.json` is the train split (10% of it held out
 * for validation) and `test.json` the test split. `challenge_test.json` is not the validation
 * split because it is a subset of `test.json`, so it would leak test examples into model selection.
 *
 * The runs use learning rates of 1e-3 (full) and 3e-3 (module) instead of the default 5e-5 and
 * batches of 16, so two epochs of 45 steps learn the task. Inputs are cut to the fixture's 64
 * positions.
 */
import * as fs from 'fs';
import * as path from 'path';

import { getLogger, initBackend, InvalidInputError, loadSafetensors, MismatchError, readMetrics, setLogLevel, type StateDict } from '@modularevo/core-tensor';
import { assertMaskedOutUnchanged, finetune, loadModule, modularize, type FinetuneOptions, type FinetuneSummary, type Module } from '@modularevo/masking';
import { dataset, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { architecture } from '../src/architecture';
import { GPTNeoForCausalLM } from '../src/model';
import { GPTNEO_TASKS } from '../src/tasks';

const [fixture] = modelFixturesOfType('gpt_neo');
const MATHQA = { train: dataset('mathqa', 'dev.json'), test: dataset('mathqa', 'test.json') };

// how far above the majority-class baseline the test accuracy must be
const BASELINE_MARGIN = 0.05;

function settings(outDir: string, change: Partial<FinetuneOptions>): FinetuneOptions {
  return { architecture, model: fixture.dir, task: 'mathqa', data: MATHQA, outDir, batchSize: 16, epochs: 2, maxLength: 64, progress: false, ...change };
}

let dir: string;
let moduleDir: string;
let base: StateDict;

// Training runs take several seconds, more on a loaded machine. Run from the repository root,
// Jest ignores the preset's per-project testTimeout and applies its 5 s default.
jest.setTimeout(300_000);

beforeAll(async () => {
  await initBackend();
  setLogLevel('warn');
  dir = temporaryDir();

  // a math module at about 50% retention (the settings of the modularization test, stopped early)
  const modules = path.join(dir, 'modules');
  await modularize({
    architecture,
    model: fixture.dir,
    domain: 'math',
    corpus: dataset('dm_mathematics'),
    outDir: modules,
    blockSize: 32,
    batchSize: 4,
    lr: 0.1,
    alpha: 10,
    scheduler: 'constant_with_warmup',
    thresholds: [0.5],
    maxSteps: 12,
    maxEvalBlocks: 8,
    progress: false,
  });
  moduleDir = path.join(modules, 'wrr_0.5');
  base = loadSafetensors(path.join(fixture.dir, 'model.safetensors'));
});
afterAll(() => setLogLevel('info'));

describe('mask-guided fine-tuning on mathqa', () => {
  let summary: FinetuneSummary;
  let module: Module;
  const outDir = () => path.join(dir, 'mathqa-module');

  beforeAll(async () => {
    summary = await finetune(settings(outDir(), { module: moduleDir, lr: 3e-3 }));
    module = loadModule(moduleDir, { scores: false });
  });

  it('beats the majority-class baseline on the test split', () => {
    expect(summary.majorityBaseline).toEqual({ label: 'gain', accuracy: 100 / 534, examples: 534 });
    expect(summary.test!.examples).toBe(534);
    expect(summary.test!.accuracy).toBeGreaterThan(summary.majorityBaseline!.accuracy + BASELINE_MARGIN);
    expect(summary.validation!.accuracy).toBeGreaterThan(0);
    expect(summary.examples).toEqual({ train: 719, validation: 80, test: 534 });
  });

  it('moves no masked-out weight of the saved model', () => {
    const saved = loadSafetensors(path.join(outDir(), 'model.safetensors'));
    const report = assertMaskedOutUnchanged(base, saved, module);
    expect(report.maskedOutChanged).toBe(0);
    expect(report.changed).toBe(summary.parameterChanges.changed);
    expect(summary.parameterChanges.maskedOutChanged).toBe(0);

    // weights the module has no mask for stay frozen too
    for (const name of ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.h.0.ln_1.weight', 'transformer.ln_f.bias']) {
      const unchanged = Buffer.from(saved.get(name)!.data.buffer).equals(Buffer.from(base.get(name)!.data.buffer));
      expect({ name, unchanged }).toEqual({ name, unchanged: true });
    }
  });

  it('changes most of the weights the module keeps', () => {
    const trainable = summary.trainable.trainableBaseEntries / summary.trainable.baseEntries;
    expect(summary.parameterChanges.changedFraction).toBeGreaterThan(0.5 * trainable);
    expect(summary.parameterChanges.changedFraction).toBeLessThanOrEqual(trainable);
    expect(summary.trainable.headTensors).toBe(8);
  });

  it('saves a Hugging Face folder that loads back to the same scores', async () => {
    const files = fs.readdirSync(outDir()).sort();
    expect(files).toEqual(['config.json', 'generation_config.json', 'merges.txt', 'model.safetensors', 'special_tokens_map.json', 'task.json', 'tokenizer_config.json', 'vocab.json']);
    const saved = loadSafetensors(path.join(outDir(), 'model.safetensors'));
    expect([...saved.keys()].filter((name) => name.startsWith('classification_head.')).sort()).toEqual(
      ['0.bias', '0.weight', '1.bias', '1.weight', '4.bias', '4.weight', '7.bias', '7.weight'].map((name) => `classification_head.${name}`),
    );
    expect([...base.keys()].every((name) => saved.has(name))).toBe(true);

    const task = GPTNEO_TASKS.mathqa;
    const model = await task.loadModel(outDir());
    try {
      const data = await task.load(MATHQA);
      const metrics = await model.evaluate(task.batches(model, data.splits.test!, { batchSize: 16, maxLength: 64 }));
      expect(metrics.accuracy).toBe(summary.test!.accuracy);
    } finally {
      model.dispose();
    }
  });

  it('logs metrics, throughput and memory in the run folder', () => {
    const runDir = `${outDir()}-run`;
    const metrics = readMetrics(path.join(runDir, 'metrics.jsonl'));
    expect(metrics.filter((line) => line.eval_accuracy !== undefined).map((line) => line.step)).toEqual([45, 90]);
    const written = JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8'));
    expect(written.test.accuracy).toBe(summary.test!.accuracy);
    expect(written.throughput.stepsPerSecond).toBeGreaterThan(0);
    expect(written.throughput.tokensPerSecond).toBeGreaterThan(0);
    expect(written.memory.rssBytes).toBeGreaterThan(0);
    expect(written.memory.tensorBytes).toBeGreaterThan(0);
    expect(written.module).toMatchObject({ dir: moduleDir, domain: 'math' });
  });
});

describe('full fine-tuning on mathqa', () => {
  it('beats the majority-class baseline and changes more weights', async () => {
    const summary = await finetune(settings(path.join(dir, 'mathqa-full'), { full: true, lr: 1e-3 }));
    expect(summary.strategy).toBe('full');
    expect(summary.module).toBeNull();
    expect(summary.test!.accuracy).toBeGreaterThan(summary.majorityBaseline!.accuracy + BASELINE_MARGIN);
    expect(summary.trainable.trainableBaseEntries).toBe(summary.trainable.baseEntries);
    expect(summary.parameterChanges.changedFraction).toBeGreaterThan(0.5);
  });
});

describe('fine-tuning shorter than its warm-up', () => {
  it('warns that the learning rate never peaks', async () => {
    const root = temporaryDir();
    const warn = jest.spyOn(getLogger('finetune'), 'warn');
    try {
      const data = writeTask(root, 'algebra');
      await finetune(settings(path.join(root, 'model'), { task: 'math-topic', data, full: true, epochs: 1, warmupSteps: 10 }));

      const messages = warn.mock.calls.map((call) => String(call[0]));
      expect(messages).toContainEqual(expect.stringMatching(/10 warm-up steps cover all 1 training steps/));
    } finally {
      warn.mockRestore();
    }
  });
});

describe('finetune rejects bad input before writing', () => {
  const cases: [string, (root: string) => Promise<Partial<FinetuneOptions>> | Partial<FinetuneOptions>, jest.Constructable, RegExp][] = [
    ['a test label outside the label set', (root) => ({ task: 'math-topic', data: writeTask(root, 'seven'), module: moduleDir }), MismatchError, /label "seven" in the test split of task math-topic is not in the label set of the train split \(algebra, geometry\)/],
    ['a module of another base model', async (root) => ({ model: await writeOtherModel(root), module: moduleDir }), MismatchError, /was learned on a base model with weights SHA-256 [0-9a-f]{64}, but the given base model has [0-9a-f]{64}/],
    ['an unknown task', () => ({ task: 'translate', full: true }), InvalidInputError, /Unknown task "translate" for architecture gptneo: use one of mathqa, scotus/],
    ['neither module nor full', () => ({}), InvalidInputError, /Choose what trains/],
    ['data without a train split', () => ({ data: { test: MATHQA.test }, full: true }), InvalidInputError, /has no train split/],
  ];

  it.each(cases)('rejects %s', async (_case, change, errorClass, message) => {
    const root = temporaryDir();
    const outDir = path.join(root, 'model');
    const options = settings(outDir, await change(root));
    const run = finetune(options);
    await expect(run).rejects.toThrow(errorClass);
    await expect(finetune(options)).rejects.toThrow(message);
    expect(fs.existsSync(outDir)).toBe(false);
    expect(fs.existsSync(`${outDir}-run`)).toBe(false);
  });
});

/** Writes a math-topic task in the generic format whose test split has an unknown label. */
function writeTask(root: string, testLabel: string): string {
  const folder = path.join(root, 'task');
  fs.mkdirSync(folder, { recursive: true });
  const line = (text: string, label: string) => `${JSON.stringify({ text, label })}\n`;
  fs.writeFileSync(path.join(folder, 'train.jsonl'), line('What is 2 + x if x = 1?', 'algebra') + line('Area of a 2 by 3 rectangle?', 'geometry'));
  fs.writeFileSync(path.join(folder, 'test.jsonl'), line('What is 7?', testLabel));
  return folder;
}

/** Saves a copy of the fixture with one weight changed, and returns its folder. */
async function writeOtherModel(root: string): Promise<string> {
  const folder = path.join(root, 'other-model');
  if (fs.existsSync(folder)) return folder;
  const model = GPTNeoForCausalLM.fromPretrained(fixture.dir);
  try {
    const bias = model.stateDict().get('transformer.ln_f.bias')!;
    const data = Float32Array.from(bias.data as Float32Array);
    data[0] += 1;
    model.assign(new Map([['transformer.ln_f.bias', { ...bias, data }]]));
    await model.save(folder);
  } finally {
    model.dispose();
  }
  return folder;
}
