/**
 * Parsers of command-line values. A value that does not parse fails in commander with one line
 * naming the flag (`error: option '--lr <rate>' argument 'abc' is invalid. expected a number`);
 * ranges are checked by the workflows, which name the setting.
 */
import { InvalidArgumentError } from 'commander';

/** Parses a decimal or exponent number (`0.005`, `5e-5`). */
export function number(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError('expected a number');
  return parsed;
}

/** Parses a whole number. */
export function integer(value: string): number {
  const parsed = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(parsed)) throw new InvalidArgumentError('expected a whole number');
  return parsed;
}

/** Parses a comma-separated list of numbers (`0.75,0.5,0.25`). */
export function numberList(value: string): number[] {
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => item === '' || !Number.isFinite(Number(item)))) throw new InvalidArgumentError('expected numbers separated by commas');
  return items.map(Number);
}

/** Parses a comma-separated list of names (`a,b,c`), dropping empty entries. */
export function nameList(value: string): string[] {
  const items = value.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
  if (items.length === 0) throw new InvalidArgumentError('expected names separated by commas');
  return items;
}
