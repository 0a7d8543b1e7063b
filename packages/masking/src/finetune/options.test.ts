import { InvalidInputError } from '@modularevo/core-tensor';

import type { Architecture } from '../architecture';
import { resolveFinetuneOptions, type FinetuneOptions } from './options';

const BASE: FinetuneOptions = { architecture: { name: 'test' } as Architecture, model: 'model', task: 'mathqa', data: 'data', outDir: 'runs/mathqa/', full: true };

describe('resolveFinetuneOptions', () => {
  it('applies the defaults of the original scripts', () => {
    expect(resolveFinetuneOptions(BASE)).toMatchObject({
      strategy: 'full',
      runDir: 'runs/mathqa-run',
      epochs: 2,
      batchSize: 4,
      evalBatchSize: 4,
      lr: 5e-5,
      weightDecay: 0,
      warmupRatio: 0,
      scheduler: 'linear',
      maxGradNorm: 1,
      gradientAccumulationSteps: 1,
      patience: 3,
      validationFraction: 0.1,
      seed: 42,
    });
  });

  it('turns early stopping off with patience 0', () => {
    expect(resolveFinetuneOptions({ ...BASE, patience: 0 }).patience).toBeUndefined();
  });

  it.each([
    ['neither module nor full', { full: undefined }, /Choose what trains/],
    ['both module and full', { module: 'module' }, /not both/],
    ['a learning rate of 0', { lr: 0 }, /Invalid lr 0/],
    ['a validation fraction of 1', { validationFraction: 1 }, /Invalid validationFraction 1/],
    ['zero accumulation steps', { gradientAccumulationSteps: 0 }, /Invalid gradientAccumulationSteps 0/],
    ['an unknown scheduler', { scheduler: 'cosine' as never }, /Invalid scheduler "cosine"/],
    ['the model folder as run folder', { runDir: 'runs/mathqa' }, /The run folder must differ from the model folder/],
    ['an empty task', { task: '' }, /Missing task/],
  ])('rejects %s', (_case, change, message) => {
    expect(() => resolveFinetuneOptions({ ...BASE, ...change })).toThrow(InvalidInputError);
    expect(() => resolveFinetuneOptions({ ...BASE, ...change })).toThrow(message);
  });
});
