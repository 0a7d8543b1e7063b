/**
 * `modularevo evolve` drives every architecture through the same `Architecture` interface. These
 * runs use the tiny CodeT5 and CodeBERT fixtures with one task each and a few steps, and the
 * built-in code corpus as the domain corpus.
 */
import * as fs from 'fs';
import * as path from 'path';

import { initBackend } from '@modularevo/core-tensor';
import { evolve, type EvolveConfig } from '@modularevo/longrun';
import { dataset, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

const SHORT: Pick<EvolveConfig, 'modularize' | 'finetune' | 'merge' | 'evalBatchSize'> = {
  modularize: { threshold: 0.9, maxSteps: 3, lr: 0.05, batchSize: 2, blockSize: 32, maxBlocks: 8, maxDocuments: 4, evalBlocks: 2 },
  finetune: { epochs: 1, maxSteps: 2, batchSize: 4, lr: 1e-3, warmupSteps: 0, maxLength: 32 },
  merge: { coefficients: [0.5, 1] },
  evalBatchSize: 8,
};

let dir: string;
beforeAll(async () => {
  await initBackend();
  dir = temporaryDir('modularevo-evolve-arch-');
});

describe('evolve on other architectures', () => {
  it('runs CodeT5 concode', async () => {
    // the released Concode test split has no references, so the small train split scores instead
    const concode = dataset('concode');
    const result = await evolve({
      config: {
        ...SHORT,
        arch: 'codet5',
        model: modelFixturesOfType('t5')[0].dir,
        out: path.join(dir, 'codet5'),
        stages: 1,
        strategies: ['modularevo', 'task_arithmetic'],
        tasks: [{ name: 'concode', domain: 'code', source: { train: path.join(concode, 'dev.json'), validation: path.join(concode, 'train.json'), test: path.join(concode, 'train.json') } }],
        domains: [{ name: 'code' }],
        data: { trainExamples: 16 },
      },
      progress: false,
    });

    expect(result.summary.stagesFinished).toBe(1);
    expect(result.summary.tasks).toEqual([{ name: 'concode', domain: 'code', metric: 'bleu', testExamples: 5 }]);
    for (const strategy of ['modularevo', 'task_arithmetic']) expect(Number.isFinite(result.summary.scores[strategy].concode[0])).toBe(true);

    // BLEU is not a proportion of examples, so the report gives no binomial noise estimate
    expect(result.summary.gains[0].noise).toBeNull();
    expect(fs.readFileSync(result.report, 'utf8')).toContain('no binomial noise estimate exists');
  }, 300_000);

  it('runs CodeBERT search', async () => {
    // the stored CoSQA subset is one file, so it serves as every split
    const cosqa = dataset('cosqa', 'cosqa-dev.json');
    const result = await evolve({
      config: {
        ...SHORT,
        arch: 'codebert',
        model: modelFixturesOfType('roberta').find((model) => model.name.includes('mlm'))!.dir,
        out: path.join(dir, 'codebert'),
        stages: 2,
        strategies: ['modularevo', 'ties'],
        tasks: [{ name: 'search', domain: 'code', source: { train: cosqa, validation: cosqa, test: cosqa } }],
        domains: [{ name: 'code' }],
        data: { trainExamples: 16, validationExamples: 8, testExamples: 8 },
      },
      progress: false,
    });

    expect(result.summary.stagesFinished).toBe(2);
    expect(result.summary.tasks).toEqual([{ name: 'search', domain: 'code', metric: 'accuracy', testExamples: 8 }]);
    for (const strategy of ['modularevo', 'ties']) {
      for (const score of result.summary.scores[strategy].search) expect(score).toBeGreaterThanOrEqual(0);
    }
    expect(result.summary.modules).toHaveLength(1);
  }, 300_000);
});
