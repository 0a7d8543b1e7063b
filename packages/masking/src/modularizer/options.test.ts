import { InvalidInputError } from '@modularevo/core-tensor';

import type { Architecture } from '../architecture';
import { resolveModularizeOptions, type ModularizeOptions } from './options';

const BASE: ModularizeOptions = { architecture: {} as Architecture, model: 'model', domain: 'math', corpus: 'corpus', outDir: 'out' };

describe('resolveModularizeOptions', () => {
  it('applies the defaults', () => {
    expect(resolveModularizeOptions(BASE)).toMatchObject({
      runDir: 'out',
      thresholds: [0.75, 0.5, 0.25],
      alpha: 1,
      lr: 0.005,
      weightDecay: 0,
      warmupRatio: 0,
      scheduler: 'linear',
      epochs: 2,
      batchSize: 4,
      blockSize: 512,
      retentionLoss: 'binary',
      maskForward: 'binary',
      seed: 1203,
      maxGradNorm: 1,
      resume: false,
    });
  });

  it('sorts thresholds from the largest and maps non-binary to the hardtanh loss', () => {
    const resolved = resolveModularizeOptions({ ...BASE, thresholds: [0.25, 0.9, 0.25], nonBinary: true, maxSteps: 10 });
    expect(resolved.thresholds).toEqual([0.9, 0.25]);
    expect(resolved.retentionLoss).toBe('hardtanh');
    expect(resolved.epochs).toBeUndefined();
  });

  it.each([
    ['a threshold of 1', { thresholds: [1] }, /Invalid threshold 1/],
    ['a negative threshold', { thresholds: [0.5, -0.1] }, /Invalid threshold -0.1/],
    ['a learning rate of 0', { lr: 0 }, /Invalid lr 0: use a positive number/],
    ['a negative alpha', { alpha: -1 }, /Invalid alpha -1/],
    ['a fractional batch size', { batchSize: 2.5 }, /Invalid batchSize 2.5: use a whole number of at least 1/],
    ['a block of one token', { blockSize: 1 }, /Invalid blockSize 1: use a whole number of at least 2/],
    ['an unknown scheduler', { scheduler: 'cosine' as never }, /Invalid scheduler "cosine"/],
    ['an unknown mask forward', { maskForward: 'sigmoid' as never }, /Invalid maskForward "sigmoid"/],
    ['a seed beyond 32 bits', { seed: 2 ** 32 }, /Invalid seed 4294967296/],
    ['an empty domain', { domain: ' ' }, /Missing domain/],
    ['resume with overwrite', { resume: true, overwrite: true }, /resume and overwrite exclude each other/],
  ])('rejects %s', (_case, change, message) => {
    expect(() => resolveModularizeOptions({ ...BASE, ...change })).toThrow(InvalidInputError);
    expect(() => resolveModularizeOptions({ ...BASE, ...change })).toThrow(message);
  });
});
