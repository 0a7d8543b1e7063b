import * as fs from 'fs';
import * as path from 'path';

import {
  CheckpointError,
  InvalidInputError,
  MismatchError,
  getLogger,
  setLogLevel,
  type StateDict,
} from '@modularevo/core-tensor';
import { temporaryDir } from '@modularevo/test-support';

import { mergeModelFolders, mergeStateDicts, taskVector, type MergeConfig } from '../src';
import { fineTune, listFolder, randomStateDict, valuesOf, writeModelFolder } from './helpers';

setLogLevel('warn');

const base = randomStateDict(51);
const tuned = [fineTune(base, 52), fineTune(base, 53)];
const baseDir = writeModelFolder(base);
const modelDirs = tuned.map((state) => writeModelFolder(state));

/** Runs a folder merge that must fail, and checks that nothing appeared next to the output. */
async function expectNoOutput(models: string[], config: MergeConfig, error: unknown, message?: RegExp) {
  const parent = temporaryDir();
  const out = path.join(parent, 'merged');
  const attempt = mergeModelFolders({ base: baseDir, models, out, config });
  await expect(attempt).rejects.toThrow(error as never);
  if (message) await expect(attempt).rejects.toThrow(message);
  expect(listFolder(parent)).toEqual([]);
}

function withTensor(state: StateDict, name: string, shape: number[], fill = 0): StateDict {
  const copy = new Map(state);
  copy.set(name, { dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });
  return copy;
}

describe('mismatched models', () => {
  it('a different vocabulary size names the tensor and both shapes', async () => {
    const resized = writeModelFolder(withTensor(tuned[0], 'transformer.wte.weight', [51, 8]));
    await expectNoOutput([resized, modelDirs[1]], { method: 'task_arithmetic' }, MismatchError, /"transformer\.wte\.weight" has shape \[51, 8\] in .* but \[50, 8\] in the base/);
  });

  it('a parameter missing from a fine-tuned model is named', async () => {
    const partial = new Map(tuned[0]);
    partial.delete('transformer.h.0.ln_1.weight');
    await expectNoOutput([writeModelFolder(partial)], { method: 'average' }, MismatchError, /"transformer\.h\.0\.ln_1\.weight" .* is missing from/);
  });

  it('a task head absent from the base is left out and logged', async () => {
    const withHead = withTensor(tuned[0], 'score.weight', [3, 8], 0.5);
    const info = jest.spyOn(getLogger('merging'), 'info');
    setLogLevel('info');
    try {
      const merged = await mergeStateDicts(base, [withHead, tuned[1]], { method: 'task_arithmetic' });
      expect(merged.has('score.weight')).toBe(false);
      expect(info.mock.calls.some(([line]) => String(line).includes('Leaving out "score.weight"'))).toBe(true);
    } finally {
      setLogLevel('warn');
      info.mockRestore();
    }
  });

  it('an excluded base parameter is copied unchanged into a complete model', async () => {
    const out = path.join(temporaryDir(), 'merged');
    await mergeModelFolders({ base: baseDir, models: modelDirs, out, config: { method: 'average', exclude: ['.*ln_1.*'] } });
    const { loadSafetensors } = await import('@modularevo/core-tensor');
    const merged = loadSafetensors(path.join(out, 'model.safetensors'));
    expect(valuesOf(merged, 'transformer.h.0.ln_1.weight')).toEqual(valuesOf(base, 'transformer.h.0.ln_1.weight'));
  });

  it('a model that is not a fine-tune of the base fails unless forced', async () => {
    const unrelated = writeModelFolder(randomStateDict(99));
    await expectNoOutput([unrelated], { method: 'ties', trim: 0.5 }, MismatchError, /is not a fine-tune of .*relative distance/);
    await expectNoOutput([unrelated], { method: 'task_arithmetic' }, MismatchError, /above the limit 0\.5/);

    const merged = await mergeStateDicts(base, [randomStateDict(99)], { method: 'task_arithmetic', force: true });
    expect(merged.size).toBe(base.size);
  });

  it('a model between the warning and failure distances merges with a warning', async () => {
    const warn = jest.spyOn(getLogger('merging'), 'warn');
    try {
      await mergeStateDicts(base, [fineTune(base, 54, 0.3)], { method: 'task_arithmetic' });
      expect(warn.mock.calls.some(([line]) => String(line).includes('is far from the base'))).toBe(true);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('invalid settings', () => {
  const cases: [string, MergeConfig, RegExp][] = [
    ['coefficient count', { method: 'task_arithmetic', coefficients: [1, 1, 1] }, /3 coefficients for 2 models/],
    ['trim above 1', { method: 'ties', trim: 1.5 }, /trim rate 1\.5: must be between 0 and 1/],
    ['negative drop', { method: 'dare', drop: -0.1 }, /drop rate 1 -0\.1/],
    ['drop count', { method: 'dare', drop: [0.1, 0.2, 0.3] }, /3 drop rates for 2 models/],
    ['missing drop', { method: 'dare' }, /needs a drop rate/],
    ['trim for task arithmetic', { method: 'task_arithmetic', trim: 0.5 }, /only applies to ties/],
    ['unknown method', { method: 'slerp' as never }, /Unknown merge method "slerp"/],
    ['unknown trim scope', { method: 'ties', trimScope: 'layer' as never }, /Invalid trim scope "layer"/],
    ['invalid exclude pattern', { method: 'average', exclude: ['(unclosed'] }, /Invalid exclude pattern "\(unclosed"/],
    ['NaN coefficient', { method: 'task_arithmetic', coefficients: [1, NaN] }, /coefficient 2/],
    ['output dtype', { method: 'average', dtype: 'F8' as never }, /Invalid output dtype "F8"/],
    ['fisher without statistics', { method: 'fisher' }, /needs Fisher statistics/],
    ['coefficients for average', { method: 'average', coefficients: [1, 2] }, /average takes no coefficients/],
    ['statistics for ties', { method: 'ties', statistics: {} }, /Statistics only apply to fisher and regmean/],
  ];

  it.each(cases)('%s', async (_name, config, message) => {
    await expectNoOutput(modelDirs, config, InvalidInputError, message);
  });
});

describe('NaN and infinite inputs', () => {
  const poisoned = (value: number) => {
    const state = new Map(tuned[1]);
    const tensor = state.get('transformer.h.0.mlp.c_fc.weight')!;
    const data = Float32Array.from(tensor.data as Float32Array);
    data[17] = value;
    state.set('transformer.h.0.mlp.c_fc.weight', { ...tensor, data });
    return writeModelFolder(state);
  };

  it.each([
    ['NaN', NaN, 'task_arithmetic'],
    ['Infinity', Infinity, 'ties'],
    ['-Infinity', -Infinity, 'average'],
  ] as const)('%s in a fine-tuned model names the file and tensor (%s)', async (_name, value, method) => {
    const dir = poisoned(value);
    await expectNoOutput([modelDirs[0], dir], { method, trim: method === 'ties' ? 0.5 : undefined }, InvalidInputError,
      new RegExp(`${dir}.*"transformer\\.h\\.0\\.mlp\\.c_fc\\.weight" contains NaN or infinite values \\(first at flat index 17\\)`));
  });

  it('NaN in the base is reported with the base file', async () => {
    const state = new Map(base);
    const tensor = state.get('transformer.h.0.ln_1.weight')!;
    state.set('transformer.h.0.ln_1.weight', { ...tensor, data: new Float32Array(tensor.data.length).fill(NaN) });
    const dir = writeModelFolder(state);
    const out = path.join(temporaryDir(), 'merged');
    await expect(mergeModelFolders({ base: dir, models: modelDirs, out, config: { method: 'dare', drop: 0.5 } })).rejects.toThrow(
      new RegExp(`${dir}.*contains NaN`),
    );
    expect(() => taskVector(state, tuned[0])).toThrow(InvalidInputError);
  });
});

describe('output folder and files', () => {
  it('an output folder that holds a model is left alone', async () => {
    const out = writeModelFolder(base);
    const before = fs.readFileSync(path.join(out, 'model.safetensors'));
    await expect(mergeModelFolders({ base: baseDir, models: modelDirs, out, config: { method: 'average' } })).rejects.toThrow(/already exists and is not empty/);
    expect(fs.readFileSync(path.join(out, 'model.safetensors')).equals(before)).toBe(true);
  });

  it('a truncated checkpoint is a CheckpointError naming the file', async () => {
    const dir = writeModelFolder(tuned[0]);
    const file = path.join(dir, 'model.safetensors');
    fs.truncateSync(file, fs.statSync(file).size - 10);
    await expectNoOutput([dir], { method: 'average' }, CheckpointError, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });

  it('a module mask of the wrong size is a MismatchError', async () => {
    const masks = new Map([['transformer.wte.weight', new Uint8Array(3)]]);
    await expect(mergeStateDicts(base, tuned, { method: 'modularevo', masks: [masks, undefined] })).rejects.toThrow(/has 3 entries but the parameter has 400/);
  });

  it('a missing model folder is a CheckpointError', async () => {
    await expectNoOutput([path.join(temporaryDir(), 'absent')], { method: 'average' }, CheckpointError, /not found/);
  });
});
