import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';
import { temporaryDir } from '@modularevo/test-support';

import { checkOutputFolder, checkRunFolder, clearRunFolder } from './folders';

describe('workflow folders', () => {
  it('accepts a missing or empty output folder and rejects a used one', () => {
    const dir = temporaryDir();
    expect(() => checkOutputFolder(path.join(dir, 'new'), 'model folder', false)).not.toThrow();
    expect(() => checkOutputFolder(dir, 'model folder', false)).not.toThrow();
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    expect(() => checkOutputFolder(dir, 'model folder', false)).toThrow(/The model folder .* already exists and is not empty/);
    expect(() => checkOutputFolder(dir, 'model folder', true)).not.toThrow();
    expect(() => checkOutputFolder(path.join(dir, 'config.json'), 'model folder', true)).toThrow(/is a file/);
  });

  it('rejects a run folder with logs of an earlier run unless overwriting', () => {
    const dir = temporaryDir();
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), '{"step": 1}\n');
    expect(() => checkRunFolder(dir, {})).toThrow(InvalidInputError);
    expect(() => checkRunFolder(dir, {})).toThrow(/contains an earlier run \(metrics.jsonl\)/);
    expect(() => checkRunFolder(dir, { overwrite: true })).not.toThrow();
    clearRunFolder(dir);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('needs a checkpoint to resume', () => {
    const dir = temporaryDir();
    expect(() => checkRunFolder(dir, { resume: true })).toThrow(/Cannot resume: the run folder .* has no training checkpoint/);
    fs.mkdirSync(path.join(dir, 'checkpoint'));
    fs.writeFileSync(path.join(dir, 'checkpoint', 'trainer_state.json'), '{}');
    expect(() => checkRunFolder(dir, { resume: true })).not.toThrow();
  });
});
