import * as fs from 'fs';
import * as path from 'path';

import { ModularEvoError, loadSafetensors, openCheckpoint, saveSafetensors, setLogLevel, type StateDict } from '@modularevo/core-tensor';
import { temporaryDir } from '@modularevo/test-support';

import { MERGE_CONFIG_NAME, averageMerge, createMergeCommand, modularEvoMerge, readRecipe, taskArithmetic, tiesMerge } from '../src';
import { fineTune, randomStateDict, valuesOf, withDType, writeModelFolder } from './helpers';

setLogLevel('warn');

async function runMerge(args: string[]): Promise<string> {
  const writes: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    writes.push(String(chunk));
    return true;
  });
  try {
    await createMergeCommand().exitOverride().parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return writes.join('');
}

function expectSameValues(actual: StateDict, expected: StateDict): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const name of expected.keys()) expect(valuesOf(actual, name)).toEqual(valuesOf(expected, name));
}

describe('modularevo merge', () => {
  const base = randomStateDict(41);
  const tunedA = fineTune(base, 42);
  const tunedB = fineTune(base, 43);
  const baseDir = writeModelFolder(base);
  const modelDirs = [writeModelFolder(tunedA), writeModelFolder(tunedB)];

  it('writes a complete model folder', async () => {
    const out = path.join(temporaryDir(), 'merged');
    const stdout = await runMerge(['--method', 'task_arithmetic', '--base', baseDir, '--models', modelDirs.join(','), '--coefficients', '0.6,1.1', '--out', out]);

    expect(fs.readdirSync(out).sort()).toEqual(['config.json', MERGE_CONFIG_NAME, 'merges.txt', 'model.safetensors', 'tokenizer_config.json', 'vocab.json']);
    expect(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).toBe(fs.readFileSync(path.join(baseDir, 'config.json'), 'utf8'));
    expectSameValues(loadSafetensors(path.join(out, 'model.safetensors')), await taskArithmetic(base, [tunedA, tunedB], { coefficients: [0.6, 1.1] }));
    expect(stdout).toContain(`into ${out}`);
  });

  it('merge_config.json reproduces the merge as a recipe', async () => {
    const out = path.join(temporaryDir(), 'merged');
    await runMerge(['--method', 'ties', '--base', baseDir, '--models', modelDirs.join(','), '--trim', '0.5', '--coefficients', '1,0.5', '--out', out]);
    const again = path.join(temporaryDir(), 'again');
    await runMerge(['--recipe', path.join(out, MERGE_CONFIG_NAME), '--out', again]);

    expect(readRecipe(path.join(out, MERGE_CONFIG_NAME)).config).toMatchObject({ method: 'ties', trim: 0.5, coefficients: [1, 0.5] });
    expectSameValues(loadSafetensors(path.join(again, 'model.safetensors')), loadSafetensors(path.join(out, 'model.safetensors')));
  });

  it('reads a YAML recipe, and flags override it', async () => {
    const dir = temporaryDir();
    const recipe = path.join(dir, 'recipe.yaml');
    fs.writeFileSync(
      recipe,
      [
        'merge_method: ties',
        `base_model: ${baseDir}`,
        'models:',
        `  - model: ${modelDirs[0]}`,
        '    parameters: { weight: 0.8 }',
        `  - model: ${modelDirs[1]}`,
        '    parameters: { weight: 1.2 }',
        'parameters:',
        '  density: 0.4',
        '  ties_threshold: inclusive',
        'dtype: float16',
      ].join('\n'),
    );
    await runMerge(['--recipe', recipe, '--out', path.join(dir, 'a')]);
    await runMerge(['--recipe', recipe, '--trim', '0.2', '--dtype', 'F32', '--out', path.join(dir, 'b')]);

    const fromRecipe = await tiesMerge(base, [tunedA, tunedB], { coefficients: [0.8, 1.2], trim: 0.6, tiesThreshold: 'inclusive', dtype: 'F16' });
    const overridden = await tiesMerge(base, [tunedA, tunedB], { coefficients: [0.8, 1.2], trim: 0.2, tiesThreshold: 'inclusive' });
    expectSameValues(loadSafetensors(path.join(dir, 'a', 'model.safetensors')), fromRecipe);
    expectSameValues(loadSafetensors(path.join(dir, 'b', 'model.safetensors')), overridden);
    expect(loadSafetensors(path.join(dir, 'a', 'model.safetensors')).get('transformer.wte.weight')!.dtype).toBe('F16');
  });

  it('reads a JSON recipe with per-model drop rates and a seed', async () => {
    const dir = temporaryDir();
    const recipe = path.join(dir, 'recipe.json');
    fs.writeFileSync(
      recipe,
      JSON.stringify({
        method: 'dare',
        base_model: baseDir,
        models: [
          { model: modelDirs[0], parameters: { drop: 0.3 } },
          { model: modelDirs[1], parameters: { density: 0.4 } },
        ],
        parameters: { apply: 'average', seed: 5, rescale: false },
      }),
    );
    await runMerge(['--recipe', recipe, '--out', path.join(dir, 'out')]);
    await runMerge([
      '--method', 'dare', '--base', baseDir, '--models', modelDirs.join(','), '--drop', '0.3,0.6', '--apply', 'average',
      '--seed', '5', '--no-rescale', '--out', path.join(dir, 'flags'),
    ]);

    expectSameValues(loadSafetensors(path.join(dir, 'out', 'model.safetensors')), loadSafetensors(path.join(dir, 'flags', 'model.safetensors')));
  });

  it('shards a large output and writes the index', async () => {
    const out = path.join(temporaryDir(), 'sharded');
    await runMerge(['--method', 'average', '--base', baseDir, '--models', modelDirs.join(','), '--max-shard-size', '1000', '--out', out]);

    const files = fs.readdirSync(out);
    expect(files).toContain('model.safetensors.index.json');
    expect(files.filter((name) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(name)).length).toBeGreaterThan(1);
    const reader = openCheckpoint(out);
    const merged: StateDict = new Map(reader.keys().map((name) => [name, reader.read(name)]));
    reader.close();
    expectSameValues(merged, await averageMerge(base, [tunedA, tunedB]));
  });

  it('merges F16 inputs and writes F16 unless --dtype says otherwise', async () => {
    const halfBase = writeModelFolder(withDType(base, 'F16'));
    const halfModels = [withDType(tunedA, 'F16'), withDType(tunedB, 'F16')].map((state) => writeModelFolder(state));
    const out = path.join(temporaryDir(), 'half');
    const wide = path.join(temporaryDir(), 'wide');
    await runMerge(['--method', 'average', '--base', halfBase, '--models', halfModels.join(','), '--out', out]);
    await runMerge(['--method', 'average', '--base', halfBase, '--models', halfModels.join(','), '--dtype', 'F32', '--out', wide]);

    expect(loadSafetensors(path.join(out, 'model.safetensors')).get('transformer.wte.weight')!.dtype).toBe('F16');
    expect(loadSafetensors(path.join(wide, 'model.safetensors')).get('transformer.wte.weight')!.dtype).toBe('F32');
  });

  it('modularevo reads bit-packed module masks from a folder', async () => {
    const dir = temporaryDir();
    const moduleDir = path.join(dir, 'module');
    fs.mkdirSync(moduleDir);
    const masks = new Map<string, Uint8Array>();
    const packed: StateDict = new Map();
    for (const [name, tensor] of base) {
      const mask = Uint8Array.from({ length: tensor.data.length }, (_, i) => (i % 3 === 0 ? 1 : 0));
      masks.set(name, mask);
      const bytes = new Uint8Array(Math.ceil(mask.length / 8));
      mask.forEach((bit, i) => (bytes[i >> 3] |= bit << (i & 7)));
      packed.set(name, { dtype: 'U8', shape: [bytes.length], data: bytes });
    }
    saveSafetensors(path.join(moduleDir, 'masks.safetensors'), packed);

    await runMerge(['--method', 'modularevo', '--base', baseDir, '--models', modelDirs.join(','), '--masks', `,${moduleDir}`, '--out', path.join(dir, 'out')]);

    expectSameValues(loadSafetensors(path.join(dir, 'out', 'model.safetensors')), await modularEvoMerge(base, [tunedA, tunedB], { masks: [undefined, masks] }));
  });

  it('fisher and regmean read one statistics file per model', async () => {
    const dir = temporaryDir();
    const files = [0, 1].map((index) => {
      const statistics: StateDict = new Map();
      for (const [name, tensor] of base) statistics.set(name, { dtype: 'F32', shape: [...tensor.shape], data: new Float32Array(tensor.data.length).fill(index + 1) });
      const file = path.join(dir, `statistics-${index}.safetensors`);
      saveSafetensors(file, statistics);
      return file;
    });
    await runMerge(['--method', 'fisher', '--base', baseDir, '--models', modelDirs.join(','), '--statistics', files.join(','), '--out', path.join(dir, 'fisher')]);
    await runMerge(['--method', 'regmean', '--base', baseDir, '--models', modelDirs.join(','), '--statistics', files.join(','), '--out', path.join(dir, 'regmean')]);

    // Fisher weights 1 and 2: (a + 2b) / 3; no Gram matrices under module names: RegMean averages
    const fisher = loadSafetensors(path.join(dir, 'fisher', 'model.safetensors'));
    const regmean = loadSafetensors(path.join(dir, 'regmean', 'model.safetensors'));
    for (const name of base.keys()) {
      const [a, b] = [tunedA, tunedB].map((state) => valuesOf(state, name));
      valuesOf(fisher, name).forEach((value, i) => expect(value).toBeCloseTo((a[i] + 2 * b[i]) / 3, 6));
      valuesOf(regmean, name).forEach((value, i) => expect(value).toBeCloseTo((a[i] + b[i]) / 2, 6));
    }
  });

  it('documents every flag with its unit or default', () => {
    const help = createMergeCommand().helpInformation();
    for (const flag of ['--method', '--base', '--models', '--coefficients', '--scaling-coefficient', '--trim', '--trim-scope', '--ties-threshold', '--drop', '--drop-strategy', '--apply', '--no-rescale', '--exclude', '--masks', '--seed', '--dtype', '--out', '--recipe']) {
      expect(help).toContain(flag);
    }
    expect(help).toMatch(/--trim <rate>.*\[0, 1\].*default: 0\.8/s);
  });

  it('reports missing settings as one clear error', async () => {
    const out = path.join(temporaryDir(), 'never');
    await expect(runMerge(['--base', baseDir, '--models', modelDirs.join(','), '--out', out])).rejects.toThrow(/No merge method/);
    await expect(runMerge(['--method', 'ties', '--models', modelDirs.join(','), '--out', out])).rejects.toThrow(/No base model/);
    await expect(runMerge(['--method', 'ties', '--base', baseDir, '--models', modelDirs.join(','), '--trim', 'half', '--out', out])).rejects.toThrow(
      ModularEvoError,
    );
    expect(fs.existsSync(out)).toBe(false);
  });
});
