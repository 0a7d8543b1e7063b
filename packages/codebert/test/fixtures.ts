/** Model fixtures and settings the workflow tests of this package share. */
import * as fs from 'fs';
import * as path from 'path';

import type { ModularizeOptions } from '@modularevo/masking';
import { dataset, modelFixturesOfType } from '@modularevo/test-support';

import { architecture } from '../src/architecture';

/** Returns the RoBERTa model fixture whose `config.json` names `modelClass` first in `architectures`. */
export function fixtureOfClass(modelClass: 'RobertaForMaskedLM' | 'RobertaModel'): string {
  const found = modelFixturesOfType('roberta').find(({ dir }) => JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).architectures?.[0] === modelClass);
  if (!found) throw new Error(`No RoBERTa model fixture with architectures ["${modelClass}"]`);
  return found.dir;
}

/**
 * Settings of a short modularization of the masked-LM fixture on the python functions of the
 * CodeSearchNet subset. The learning rate of 0.1 (20 times the default) with alpha 10 and a
 * constant rate after warm-up drive the retention rate below 0.5 within 15 steps.
 */
export function modularizeSettings(outDir: string, change: Partial<ModularizeOptions> = {}): ModularizeOptions {
  return {
    architecture,
    model: fixtureOfClass('RobertaForMaskedLM'),
    domain: 'python',
    corpus: dataset('codesearchnet'),
    outDir,
    blockSize: 38,
    batchSize: 2,
    lr: 0.1,
    alpha: 10,
    scheduler: 'constant_with_warmup',
    thresholds: [0.75, 0.5],
    maxSteps: 15,
    progress: false,
    ...change,
  };
}

/** Share of the most frequent label. */
export function majorityRate(labels: readonly number[]): number {
  const positives = labels.filter((label) => label === 1).length;
  return Math.max(positives, labels.length - positives) / labels.length;
}
