import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

import { writeReport } from './write-report';

describe('writeReport on a folder that is not a run', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'write-report-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('rejects a missing folder as not found', async () => {
    const missing = path.join(root, 'missing');
    await expect(writeReport(missing)).rejects.toThrow(CheckpointError);
    await expect(writeReport(missing)).rejects.toThrow(`${missing}: not found`);
    expect(fs.existsSync(missing)).toBe(false);
  });

  it('rejects a folder without config.json', async () => {
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    await expect(writeReport(empty)).rejects.toThrow('has no config.json');
    expect(fs.readdirSync(empty)).toEqual([]);
  });
});
