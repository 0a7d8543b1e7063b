/** Helpers the workflow runners share for their settings. */
import { createRng } from '@modularevo/core-tensor';

/**
 * Returns the dropout seed of one micro-batch. Dropout uses consecutive seeds from it for its
 * calls within a forward pass, so the seeds of different micro-batches are hashed apart rather
 * than spaced by a fixed stride.
 */
export function dropoutSeed(seed: number, step: number, microBatch: number): number {
  return createRng(seed).fork(`dropout/${step}/${microBatch}`).seed;
}

/** Drops keys whose value is undefined, so they do not override defaults. */
export function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
