import * as fs from 'fs';

import { CheckpointError } from '@modularevo/core-tensor';

/** One row of a data file: field names to values, as the file stores them. */
export type DataRecord = Record<string, unknown>;

/** A record with the place it came from, for error messages. */
export interface LocatedRecord {
  record: DataRecord;
  /** The file the record was read from. */
  file: string;
  /** 1-based line (JSON Lines, CSV) or row (JSON arrays, Parquet, Arrow) of the record. */
  line: number;
}

/** Throws `CheckpointError` unless `file` exists and is a regular file. */
export function requireFile(file: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new CheckpointError(file, 'file not found', 'Check the path');
  }
  if (!stat.isFile()) throw new CheckpointError(file, 'is not a file', 'Pass the path of a data file');
}

/** Returns `value` when it is a plain object, else throws naming the file and line. */
export function requireObject(value: unknown, file: string, line: number, unit: 'line' | 'row'): DataRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const found = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new CheckpointError(file, `${unit} ${line} is ${found}, not a JSON object`, 'Each record must be an object of named fields');
  }
  return value as DataRecord;
}

/**
 * Converts the 64-bit integers that Parquet and Arrow readers return as `bigint` into numbers
 * when they fit exactly, so labels and ids compare equal to values read from JSON.
 */
export function toPlainValue(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  if (Array.isArray(value)) return value.map(toPlainValue);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, toPlainValue);
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    const out: DataRecord = {};
    for (const [key, field] of Object.entries(value)) out[key] = toPlainValue(field);
    return out;
  }
  return value;
}
