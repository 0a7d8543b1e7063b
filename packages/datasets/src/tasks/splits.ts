import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, InvalidInputError } from '@modularevo/core-tensor';

import { SPLIT_NAMES, type SplitFiles, type SplitName } from './types';

/** Fractions of the examples that go to each split; they must add up to 1. */
export type SplitFractions = Record<SplitName, number>;

/**
 * Returns a number in [0, 1) fixed by `key`: 32-bit FNV-1a over its UTF-16 code units, then the
 * MurmurHash3 finalizer so that keys differing only in their last characters (task-1, task-2)
 * still spread over [0, 1). The same key lands in the same split on every machine.
 */
export function hashFraction(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }

  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 2 ** 32;
}

/** Throws `InvalidInputError` unless the fractions are each in [0, 1] and add up to 1. */
export function validateFractions(fractions: SplitFractions): void {
  const values = SPLIT_NAMES.map((split) => fractions[split]);
  const sum = values.reduce((total, value) => total + value, 0);
  if (values.some((value) => !(value >= 0 && value <= 1)) || Math.abs(sum - 1) > 1e-9) {
    throw new InvalidInputError(`Invalid split fractions ${JSON.stringify(fractions)}: each must be in [0, 1] and they must add up to 1`);
  }
}

/** Returns the split that `key` belongs to under `fractions` (train, then validation, then test). */
export function splitOf(key: string, fractions: SplitFractions): SplitName {
  const point = hashFraction(key);
  let upper = 0;
  for (const split of SPLIT_NAMES) {
    upper += fractions[split];
    if (point < upper) return split;
  }
  return 'test';
}

/** Returns the named split files in train, validation, test order; throws when none is named. */
export function namedSplits(files: SplitFiles, task: string): [SplitName, string][] {
  const named = SPLIT_NAMES.filter((split) => files[split] !== undefined).map((split) => [split, files[split]!] as [SplitName, string]);
  if (named.length === 0) {
    throw new InvalidInputError(`No data files given for task ${task}: name at least one of train, validation, test`);
  }
  return named;
}

/**
 * Finds split files in a folder by their usual names (the first candidate that exists wins).
 * Throws `CheckpointError` when the folder is missing or none of the names exists.
 */
export function findSplitFiles(dir: string, candidates: Record<SplitName, string[]>, task: string): SplitFiles {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CheckpointError(dir, 'folder not found', `Pass the folder with the ${task} files, or name the file of each split`);

  const files: SplitFiles = {};
  for (const split of SPLIT_NAMES) {
    const name = candidates[split].find((candidate) => fs.existsSync(path.join(dir, candidate)));
    if (name) files[split] = path.join(dir, name);
  }
  if (Object.keys(files).length === 0) {
    const expected = SPLIT_NAMES.flatMap((split) => candidates[split]).join(', ');
    throw new CheckpointError(dir, `has none of the ${task} split files (${expected})`, 'Name the file of each split instead');
  }
  return files;
}
