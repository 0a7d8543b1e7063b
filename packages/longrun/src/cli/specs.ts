/**
 * Parsers of the `name=value` flag values of `modularevo evolve`: tasks with their data,
 * domains with their corpus, task domains, and coefficient grids.
 */
import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';
import { SPLIT_NAMES, type SplitFiles, type SplitName } from '@modularevo/datasets';
import { coefficientRange } from '@modularevo/merging';

import type { DomainEntry, TaskEntry } from '../config/evolve-config';

/**
 * Parses `--task NAME[=SOURCE]`. SOURCE is a file or folder, or the file of each split as
 * `train:FILE,validation:FILE,test:FILE`; without it the task must be a built-in one.
 */
export function parseTaskSpec(value: string): TaskEntry {
  const { name, rest } = splitName(value, '--task', 'mathqa=PATH');
  if (rest === undefined) return { name };
  return { name, source: isSplitList(rest) ? parseSplitFiles(rest, name) : path.resolve(rest) };
}

/** Parses `--domain NAME[=PATH]`; without a path the domain must be a built-in one. */
export function parseDomainSpec(value: string): DomainEntry {
  const { name, rest } = splitName(value, '--domain', 'math=PATH');
  return rest === undefined ? { name } : { name, corpus: path.resolve(rest) };
}

/** Parses `--task-domain TASK=DOMAIN`. */
export function parseTaskDomain(value: string): { task: string; domain: string } {
  const { name, rest } = splitName(value, '--task-domain', 'mathqa=math');
  if (rest === undefined || rest === '') throw new InvalidInputError(`Invalid --task-domain ${JSON.stringify(value)}: use TASK=DOMAIN, for example mathqa=math`);
  return { task: name, domain: rest };
}

/** Parses `--coefficients`: a list (`0.4,0.7,1.0`) or a range `START:STOP:STEP` (`0.4:1.2:0.1`). */
export function parseCoefficients(value: string): number[] {
  const range = value.split(':');
  if (range.length === 3) {
    const [start, stop, step] = range.map((part) => parseNumber(part, '--coefficients'));
    return coefficientRange(start, stop, step);
  }
  return value.split(',').map((part) => parseNumber(part, '--coefficients'));
}

function isSplitList(text: string): boolean {
  return SPLIT_NAMES.some((split) => text.startsWith(`${split}:`));
}

function parseSplitFiles(text: string, task: string): SplitFiles {
  const files: SplitFiles = {};
  for (const part of text.split(',')) {
    const colon = part.indexOf(':');
    const split = part.slice(0, colon) as SplitName;
    const file = part.slice(colon + 1);
    if (colon < 0 || !SPLIT_NAMES.includes(split) || file === '') {
      throw new InvalidInputError(
        `Invalid split file ${JSON.stringify(part)} for task ${task}: use SPLIT:FILE with SPLIT one of ${SPLIT_NAMES.join(', ')}, for example train:dev.json`,
      );
    }
    if (files[split] !== undefined) throw new InvalidInputError(`Task ${task} names the ${split} split twice; name each split once`);
    files[split] = path.resolve(file);
  }
  return files;
}

function splitName(value: string, flag: string, example: string): { name: string; rest?: string } {
  const equals = value.indexOf('=');
  const name = (equals < 0 ? value : value.slice(0, equals)).trim();
  if (name === '') throw new InvalidInputError(`Invalid ${flag} ${JSON.stringify(value)}: start with a name, for example ${example}`);
  return equals < 0 ? { name } : { name, rest: value.slice(equals + 1) };
}

function parseNumber(text: string, flag: string): number {
  const value = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(value)) throw new InvalidInputError(`Invalid ${flag} value ${JSON.stringify(text)}: use numbers, for example 0.4,0.7,1.0 or 0.4:1.2:0.1`);
  return value;
}
