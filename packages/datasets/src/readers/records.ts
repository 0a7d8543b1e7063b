import type { CsvOptions } from './csv';
import { iterateCsv } from './csv';
import { iterateArrow } from './arrow';
import { detectFormat } from './format';
import { readJsonArray } from './json-array';
import { iterateJsonLines } from './json-lines';
import { iterateParquet } from './parquet';
import { requireFile, type DataRecord, type LocatedRecord } from './record';
import { readTextLines } from './text-stream';

/** Options of {@link iterateRecords} and {@link readRecords}. */
export interface ReadRecordsOptions {
  /** CSV settings; ignored for other formats. */
  csv?: CsvOptions;
  /** Parquet columns to read (all when omitted); ignored for other formats. */
  columns?: string[];
}

/** Returns true when the first non-blank line of a `.json` file opens a JSON array. */
async function opensWithArray(file: string, compression: 'none' | 'gzip' | 'zstd'): Promise<boolean> {
  for await (const line of readTextLines(file, compression)) {
    const text = line.trim();
    if (text.length > 0) return text.startsWith('[');
  }
  return false;
}

/**
 * Yields the records of a data file with their line or row numbers, choosing the reader by
 * extension. It reads `.jsonl` / `.ndjson`, `.json` (a JSON array, or JSON Lines as CodeXGLUE
 * writes under that name), `.csv`, `.parquet` and `.arrow` / `.feather` / `.ipc`. Text formats
 * may be `.gz` or `.zst` compressed. JSON Lines, CSV, Parquet and Arrow stream, so big files fit
 * in memory, but a JSON array is parsed whole.
 *
 * Throws `CheckpointError` naming the file (and line or row) for a missing file, an unknown
 * extension, malformed content, or a file without records.
 */
export async function* iterateRecords(file: string, options: ReadRecordsOptions = {}): AsyncGenerator<LocatedRecord> {
  requireFile(file);
  const { format, compression } = detectFormat(file);

  switch (format) {
    case 'jsonl':
      yield* iterateJsonLines(file, compression);
      return;
    case 'json':
      if (await opensWithArray(file, compression)) yield* await readJsonArray(file, compression);
      else yield* iterateJsonLines(file, compression);
      return;
    case 'csv':
      yield* iterateCsv(file, compression, options.csv);
      return;
    case 'parquet':
      yield* iterateParquet(file, { columns: options.columns });
      return;
    case 'arrow':
      yield* iterateArrow(file);
      return;
  }
}

/** Reads every record of a data file into memory; see {@link iterateRecords} for formats and errors. */
export async function readRecords(file: string, options: ReadRecordsOptions = {}): Promise<DataRecord[]> {
  const records: DataRecord[] = [];
  for await (const { record } of iterateRecords(file, options)) records.push(record);
  return records;
}

/** Reads every record of a data file with its line or row number. */
export async function readLocatedRecords(file: string, options: ReadRecordsOptions = {}): Promise<LocatedRecord[]> {
  const records: LocatedRecord[] = [];
  for await (const located of iterateRecords(file, options)) records.push(located);
  return records;
}
