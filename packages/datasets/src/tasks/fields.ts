import { CheckpointError } from '@modularevo/core-tensor';

import type { LocatedRecord } from '../readers';

/** Returns `where` text for an error: the file and the line or row of a record. */
export function locate(located: LocatedRecord): string {
  return `${located.file} line ${located.line}`;
}

/**
 * Returns the first of `names` that the record has as a string (numbers are converted), or
 * throws `CheckpointError` naming the file, the line and the fields tried.
 */
export function requireText(located: LocatedRecord, names: string[]): string {
  for (const name of names) {
    const value = located.record[name];
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  }
  const wanted = names.map((name) => `"${name}"`).join(' or ');
  const found = Object.keys(located.record).join(', ');
  throw new CheckpointError(located.file, `line ${located.line} has no ${wanted} field (it has ${found || 'no fields'})`, 'Check that the file is in the published format of the task');
}

/** Returns the first of `names` that the record has, or undefined. */
export function optionalText(located: LocatedRecord, names: string[]): string | undefined {
  for (const name of names) {
    const value = located.record[name];
    if (typeof value === 'string') return value;
    if (typeof value === 'number') return String(value);
  }
  return undefined;
}

/** Throws `CheckpointError` when a split file gave no examples. */
export function requireExamples(count: number, file: string, task: string, split: string, what = 'examples'): void {
  if (count === 0) throw new CheckpointError(file, `has no ${what} for the ${split} split of task ${task}`, 'Check the file and the split it was given as');
}
