/**
 * Modularization of the masked-LM fixture on the python functions of the CodeSearchNet subset,
 * through the generic modularizer of `@modularevo/masking`, which reads the CodeSearchNet layout
 * with `architecture.readCorpus`.
 */
import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, initBackend, InvalidInputError, readMetrics, setLogLevel } from '@modularevo/core-tensor';
import { checkParametersInBase, describeBaseModelFolder, describePretrainedModel, loadModule, modularize, type ModularizeSummary } from '@modularevo/masking';
import { dataset, temporaryDir } from '@modularevo/test-support';

import { architecture } from '../src/architecture';
import { readCodeCorpus } from '../src/corpus';
import { CodeBertModel } from '../src/model';
import { fixtureOfClass, modularizeSettings } from './fixtures';
import { copyWithWeights } from './reference';

const mlmDir = fixtureOfClass('RobertaForMaskedLM');

// Run from the repository root, Jest ignores the preset's per-project testTimeout.
jest.setTimeout(300_000);

beforeAll(async () => {
  await initBackend();
  setLogLevel('warn');
});
afterAll(() => setLogLevel('info'));

describe('modularize codebert on CodeSearchNet python', () => {
  const outDir = path.join(temporaryDir(), 'modules');
  let summary: ModularizeSummary;
  let model: CodeBertModel;

  beforeAll(async () => {
    summary = await modularize(modularizeSettings(outDir));
    model = CodeBertModel.fromPretrained(mlmDir);
  });
  afterAll(() => model.dispose());

  it('reads the language of the domain', async () => {
    const root = dataset('codesearchnet');
    expect(summary.corpus.trainDocuments).toBe((await readCodeCorpus(root, 'python', 'train')).length);
    expect(summary.corpus.testDocuments).toBe((await readCodeCorpus(root, 'python', 'test')).length);
    expect(summary.corpus.sources).toEqual({ train: root, test: root });
  });

  it('drives the retention rate below 0.5', () => {
    expect(summary.steps).toBe(15);
    expect(summary.finalRetentionRate).toBeLessThan(0.5);
    expect(Object.keys(summary.modules)).toEqual(['wrr_0.75', 'wrr_0.5', 'final']);

    const metrics = readMetrics(path.join(outDir, 'metrics.jsonl'));
    expect(metrics).toHaveLength(15);
    expect(metrics[0].wrr as number).toBeGreaterThan(0.9);
    for (const line of metrics) expect(Number.isFinite(line.lm_loss)).toBe(true);
  });

  it('masks every pretrained linear layer, tied decoder included', () => {
    const json = JSON.parse(fs.readFileSync(path.join(outDir, 'final', 'module.json'), 'utf8'));
    const masked = json.masked_parameters.map((parameter: { name: string }) => parameter.name);
    expect(masked).toEqual(model.linearLayers().flatMap((layer) => [layer.weight, layer.bias!]));
    expect(masked).toEqual(expect.arrayContaining(['lm_head.decoder.weight', 'lm_head.decoder.bias']));
    // a RobertaForMaskedLM checkpoint has no pooler, so the pooler initialised on load has no mask
    expect(masked.some((name: string) => name.startsWith('roberta.pooler.'))).toBe(false);
    expect(json.training).toMatchObject({ architecture: 'codebert', objective: 'masked-lm', domain: 'python' });
  });

  it('checks tied mask names against the loaded model', () => {
    const identity = describePretrainedModel(model);
    expect(identity.parameterShapes.get('lm_head.decoder.weight')).toEqual([1000, 32]);
    expect(identity.parameterShapes.get('lm_head.decoder.bias')).toEqual([1000]);
    const module = loadModule(path.join(outDir, 'final'), { base: identity });
    expect(module.masks.get('lm_head.decoder.bias')!.shape).toEqual([1000]);

    // the folder stores the tied tensors under their other names only, so the folder alone fails the check
    const folder = describeBaseModelFolder(mlmDir);
    const masks = [...module.masks].map(([name, mask]) => ({ name, shape: mask.shape }));
    expect(() => checkParametersInBase('The module', masks, folder)).toThrow(/"lm_head\.decoder\.(weight|bias)", but the base model has no such parameter/);
  });

  it('applies to the same weights read from pytorch_model.bin', () => {
    // the .bin file stores lm_head.decoder.weight and .bias as tied duplicates
    const binDir = copyWithWeights(mlmDir, path.join(temporaryDir(), 'bin'), 'pytorch_model.bin');
    const fromBin = CodeBertModel.fromPretrained(binDir);
    try {
      const identity = describePretrainedModel(fromBin);
      expect(identity.weightsSha256).toBe(describePretrainedModel(model).weightsSha256);
      expect(loadModule(path.join(outDir, 'wrr_0.5'), { base: identity }).weightRetentionRate).toBeLessThanOrEqual(0.5);
    } finally {
      fromBin.dispose();
    }
  });
});

describe('modularize codebert rejects bad input before writing', () => {
  const cases: [string, (dir: string) => Record<string, unknown>, jest.Constructable, RegExp][] = [
    ['a language the corpus lacks', () => ({ domain: 'cobol' }), InvalidInputError, /CodeSearchNet folder .* has no language "cobol" \(it has go, java, javascript, php, python, ruby\)/],
    ['a RobertaModel checkpoint', () => ({ model: fixtureOfClass('RobertaModel') }), CheckpointError, /has no lm_head .* Use a RobertaForMaskedLM checkpoint/],
    ['a CodeSearchNet record without code', (dir) => ({ corpus: writeBrokenCodeSearchNet(dir) }), CheckpointError, /python_train_0\.jsonl: line 1 has no code/],
  ];

  it.each(cases)('rejects %s', async (_case, change, errorClass, message) => {
    const dir = temporaryDir();
    const outDir = path.join(dir, 'modules');
    await expect(modularize(modularizeSettings(outDir, change(dir)))).rejects.toThrow(errorClass);
    await expect(modularize(modularizeSettings(outDir, change(dir)))).rejects.toThrow(message);
    expect(fs.existsSync(outDir)).toBe(false);
  });

  it('reads other layouts as JSON lines', async () => {
    expect(await architecture.readCorpus!(dataset('dm_mathematics'), 'train', { domain: 'python' })).toBeUndefined();
  });
});

/** Writes a CodeSearchNet folder whose python train record lacks `code`, and returns it. */
function writeBrokenCodeSearchNet(root: string): string {
  const corpus = path.join(root, 'codesearchnet');
  for (const split of ['train', 'test']) {
    const dir = path.join(corpus, 'python', 'final', 'jsonl', split);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `python_${split}_0.jsonl`), `${JSON.stringify({ code_tokens: [], docstring: '', docstring_tokens: [], language: 'python' })}\n`);
  }
  return corpus;
}
