import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';
import { temporaryDir } from '@modularevo/test-support';

import { configDocument, parseConfigDocument, readConfigFile } from './config-file';
import type { EvolveSettings } from './settings';

const YAML = `
arch: gptneo
model: /models/gpt-neo-125m
stages: 2
strategies: [modularevo, ties]
tasks:
  mathqa:
    domain: math
    splits: { train: /data/mathqa/dev.json, validation: /data/mathqa/challenge_test.json, test: /data/mathqa/test.json }
  langid:
    data: /data/udhr
  math-topic:
domains:
  math: /corpora/dm_mathematics
  europarl:
modularize: { threshold: 0.5, max_steps: 300, block_size: 128 }
finetune: { epochs: 2, lr: 5.0e-5 }
data: { validation_examples: 200 }
merge: { coefficients: { start: 0.4, stop: 0.6, step: 0.1 }, trim: 0.8 }
`;

describe('readConfigFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = temporaryDir('modularevo-config-');
  });

  it('reads a YAML configuration', () => {
    const file = path.join(dir, 'run.yaml');
    fs.writeFileSync(file, YAML);
    expect(readConfigFile(file)).toEqual({
      arch: 'gptneo',
      model: '/models/gpt-neo-125m',
      stages: 2,
      strategies: ['modularevo', 'ties'],
      tasks: [
        { name: 'mathqa', domain: 'math', source: { train: '/data/mathqa/dev.json', validation: '/data/mathqa/challenge_test.json', test: '/data/mathqa/test.json' } },
        { name: 'langid', source: '/data/udhr' },
        { name: 'math-topic' },
      ],
      domains: [{ name: 'math', corpus: '/corpora/dm_mathematics' }, { name: 'europarl' }],
      modularize: { threshold: 0.5, maxSteps: 300, blockSize: 128 },
      finetune: { epochs: 2, lr: 5e-5 },
      data: { validationExamples: 200 },
      merge: { coefficients: [0.4, 0.5, 0.6], trim: 0.8 },
    });
  });

  it.each([
    ['bad.json', '{"stages": ', /is not valid JSON/],
    ['bad.yaml', 'stages: [1', /is not valid YAML/],
    ['unknown.yaml', 'epochs: 3', /unknown key "epochs" in the configuration; use one of arch, model/],
    ['section.yaml', 'finetune: { steps: 3 }', /unknown key "steps" in finetune; use one of epochs, max_steps/],
    ['type.yaml', 'stages: three', /stages must be a number, not "three"/],
    ['integer.yaml', 'stages: 1.5', /stages must be a whole number, not 1.5/],
    ['both.yaml', 'tasks: { mathqa: { data: a, splits: { test: b } } }', /tasks.mathqa has both "data" and "splits"/],
    ['split.yaml', 'tasks: { mathqa: { splits: { dev: a.json } } }', /unknown key "dev" in tasks.mathqa.splits/],
  ])('rejects %s', (name, text, message) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    expect(() => readConfigFile(file)).toThrow(InvalidInputError);
    expect(() => readConfigFile(file)).toThrow(message);
  });

  it('names a missing file', () => {
    expect(() => readConfigFile(path.join(dir, 'missing.yaml'))).toThrow(/Cannot read configuration file .*missing.yaml/);
  });
});

describe('configDocument', () => {
  it('round-trips resolved settings', () => {
    const settings: EvolveSettings = {
      arch: 'gptneo',
      model: '/models/tiny',
      out: '/runs/a',
      stages: 3,
      seed: 5,
      strategies: ['modularevo', 'average'],
      tasks: [
        { name: 'mathqa', domain: 'math', source: { train: '/d/dev.json', test: '/d/test.json' } },
        { name: 'langid', domain: 'europarl', source: '/d/udhr' },
      ],
      domains: [
        { name: 'math', corpus: '/c/math' },
        { name: 'europarl', corpus: '/c/europarl' },
      ],
      modularize: { threshold: 0.25, maxSteps: 100, lr: 0.01, alpha: 1, batchSize: 8, blockSize: 64, warmupSteps: 0, evalBlocks: 16 },
      finetune: { epochs: 1, batchSize: 8, lr: 1e-3, weightDecay: 0, warmupSteps: 10, maxLength: 128, patience: 2 },
      data: { validationExamples: 64 },
      merge: { coefficients: [0.4, 0.7, 1], trim: 0.75, drop: 0.75 },
      evalBatchSize: 32,
    };
    const document = JSON.parse(JSON.stringify(configDocument(settings)));
    const { tasks, domains, modularize, finetune, data, merge, ...scalars } = parseConfigDocument(document, 'config.json');

    expect(scalars).toEqual({ arch: 'gptneo', model: '/models/tiny', out: '/runs/a', stages: 3, seed: 5, strategies: ['modularevo', 'average'], evalBatchSize: 32 });
    expect(tasks).toEqual(settings.tasks);
    expect(domains).toEqual(settings.domains);
    expect({ modularize, finetune, data, merge }).toEqual({ modularize: settings.modularize, finetune: settings.finetune, data: settings.data, merge: settings.merge });
  });
});
