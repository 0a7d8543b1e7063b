import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

/** Record file formats that {@link readRecords} understands. */
export type RecordFormat = 'jsonl' | 'json' | 'csv' | 'parquet' | 'arrow';

/** Whole-file compressions that wrap a text format (`.jsonl.gz`, `.jsonl.zst`, `.csv.gz`). */
export type Compression = 'none' | 'gzip' | 'zstd';

/** The format and compression of a record file, from its name. */
export interface FileFormat {
  format: RecordFormat;
  compression: Compression;
}

const FORMAT_BY_EXTENSION: Record<string, RecordFormat> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
  '.csv': 'csv',
  '.parquet': 'parquet',
  '.arrow': 'arrow',
  '.feather': 'arrow',
  '.ipc': 'arrow',
};

const COMPRESSION_BY_EXTENSION: Record<string, Compression> = { '.gz': 'gzip', '.zst': 'zstd' };

/**
 * Returns the record format of `file` from its extension, looking through a `.gz` or `.zst`
 * suffix. Throws `CheckpointError` for an extension no reader handles, and for compressed
 * Parquet or Arrow files (those formats compress inside the file).
 */
export function detectFormat(file: string): FileFormat {
  let name = path.basename(file).toLowerCase();
  let compression: Compression = 'none';
  const outer = path.extname(name);
  if (COMPRESSION_BY_EXTENSION[outer]) {
    compression = COMPRESSION_BY_EXTENSION[outer];
    name = name.slice(0, -outer.length);
  }

  const format = FORMAT_BY_EXTENSION[path.extname(name)];
  if (!format) {
    const known = Object.keys(FORMAT_BY_EXTENSION).join(', ');
    throw new CheckpointError(file, 'unknown record file type', `Use one of ${known} (optionally with .gz or .zst)`);
  }
  if (compression !== 'none' && (format === 'parquet' || format === 'arrow')) {
    throw new CheckpointError(file, `a ${format} file cannot be wrapped in ${compression}`, 'Decompress it first');
  }
  return { format, compression };
}

/** Returns true when `file` has an extension that {@link detectFormat} accepts. */
export function isRecordFile(file: string): boolean {
  try {
    detectFormat(file);
    return true;
  } catch {
    return false;
  }
}

/** Returns the whole-file compression of `file` from its last extension (`.gz`, `.zst`), whatever the format. */
export function compressionOf(file: string): Compression {
  return COMPRESSION_BY_EXTENSION[path.extname(file).toLowerCase()] ?? 'none';
}
