import { createRng } from '@modularevo/core-tensor';

/**
 * Returns the dropout seed of one micro-batch. A forward pass uses consecutive seeds from it for
 * its dropout sites, so the seeds of different micro-batches are hashed apart rather than spaced
 * by a fixed stride that could make two passes share seeds.
 */
export function dropoutSeed(seed: number, step: number, microBatch: number): number {
  return createRng(seed).fork(`dropout/${step}/${microBatch}`).seed;
}
