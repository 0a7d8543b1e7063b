import * as fs from 'fs';
import * as path from 'path';

import { temporaryDir } from '@modularevo/test-support';

import { CheckpointError, InvalidInputError } from '../errors';
import { MetricsLogger, readMetrics, writeRunConfig } from './metrics';

describe('MetricsLogger', () => {
  it('writes one JSON line per record as soon as it is logged', () => {
    const runDir = path.join(temporaryDir(), 'runs', 'first');
    const logger = new MetricsLogger(runDir);

    logger.log({ step: 10, epoch: 0, loss: 2.5, learning_rate: 1e-4 });
    const afterFirst = fs.readFileSync(logger.path, 'utf8');
    logger.log({ step: 20, eval_accuracy: 0.75 });
    logger.close();

    expect(afterFirst.split('\n')).toHaveLength(2);
    const lines = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines.map((line) => Object.keys(JSON.parse(line)))).toEqual([
      ['step', 'epoch', 'time', 'loss', 'learning_rate'],
      ['step', 'time', 'eval_accuracy'],
    ]);
    expect(JSON.parse(lines[0])).toMatchObject({ step: 10, epoch: 0, loss: 2.5, learning_rate: 1e-4 });
  });

  it('appends to an existing file and repairs a partial last line', () => {
    const runDir = temporaryDir();
    const file = path.join(runDir, 'metrics.jsonl');
    fs.writeFileSync(file, '{"step": 1, "time": 0, "loss": 3}\n{"step": 2, "ti');

    const logger = new MetricsLogger(runDir);
    logger.log({ step: 3, loss: 1 });
    logger.close();

    const lines = fs.readFileSync(file, 'utf8').split('\n');
    expect(lines[1]).toBe('{"step": 2, "ti');
    expect(JSON.parse(lines[2])).toMatchObject({ step: 3, loss: 1 });
  });

  it('writes NaN as null', () => {
    const logger = new MetricsLogger(temporaryDir());
    logger.log({ step: 1, loss: NaN });
    logger.close();

    expect(readMetrics(logger.path)[0].loss).toBeNull();
  });

  it('rejects an invalid step and logging after close', () => {
    const logger = new MetricsLogger(temporaryDir());

    expect(() => logger.log({ step: -1 })).toThrow(InvalidInputError);
    expect(() => logger.log({ step: 1.5 })).toThrow(InvalidInputError);
    logger.close();
    expect(() => logger.log({ step: 1 })).toThrow(/is closed/);
  });
});

describe('readMetrics', () => {
  it('reads every record', () => {
    const logger = new MetricsLogger(temporaryDir());
    for (let step = 1; step <= 3; step++) logger.log({ step, loss: 1 / step });
    logger.close();

    expect(readMetrics(logger.path).map((record) => record.loss)).toEqual([1, 0.5, 1 / 3]);
  });

  it('names the file and line of an invalid record', () => {
    const file = path.join(temporaryDir(), 'metrics.jsonl');
    fs.writeFileSync(file, '{"step": 1, "time": 0}\n{"loss": 2}\n');
    const broken = path.join(temporaryDir(), 'metrics.jsonl');
    fs.writeFileSync(broken, '{"step": 1, "time": 0}\nnot json\n');

    expect(() => readMetrics(file)).toThrow(/line 2 is not a metrics record/);
    expect(() => readMetrics(broken)).toThrow(CheckpointError);
    expect(() => readMetrics(broken)).toThrow(`${broken}: line 2 is not valid JSON`);
    expect(() => readMetrics(path.join(temporaryDir(), 'absent.jsonl'))).toThrow(/cannot read metrics file/);
  });
});

describe('writeRunConfig', () => {
  it('writes config.json in a new run folder', () => {
    const runDir = path.join(temporaryDir(), 'runs', 'a');
    const config = { model: 'gpt_neo', lr: 5e-5, masks: ['math', 'law'] };

    const file = writeRunConfig(runDir, config);

    expect(file).toBe(path.join(runDir, 'config.json'));
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(config);
    expect(fs.readdirSync(runDir)).toEqual(['config.json']);
  });

  it('rejects a configuration JSON cannot hold, writing nothing', () => {
    const runDir = path.join(temporaryDir(), 'run');

    expect(() => writeRunConfig(runDir, { seed: 1n })).toThrow(InvalidInputError);
    expect(fs.existsSync(runDir)).toBe(false);
  });
});
