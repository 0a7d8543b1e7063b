import { parse } from 'csv-parse';

import { CheckpointError } from '@modularevo/core-tensor';

import type { Compression } from './format';
import type { LocatedRecord } from './record';
import { requireFile } from './record';
import { openDecompressedStream } from './text-stream';

/** Options of {@link iterateCsv}. */
export interface CsvOptions {
  /** Field separator; default `,`. */
  delimiter?: string;
  /**
   * Column names. Without them the first line is the header. Pass them for files that have no
   * header line.
   */
  columns?: string[];
}

/**
 * Yields the rows of a CSV file as records keyed by column name, streaming (with `.gz` / `.zst`
 * decompression). Quoted fields may span lines.
 *
 * Throws `CheckpointError` naming the file for malformed CSV (the csv-parse message gives the
 * line), a row with the wrong number of fields, or a file with no data rows.
 */
export async function* iterateCsv(file: string, compression: Compression = 'none', options: CsvOptions = {}): AsyncGenerator<LocatedRecord> {
  requireFile(file);

  const source = openDecompressedStream(file, compression);
  const parser = source.pipe(
    parse({
      columns: options.columns ?? true,
      delimiter: options.delimiter ?? ',',
      bom: true,
      info: true,
      skip_empty_lines: true,
    }),
  );
  source.on('error', (error) => parser.destroy(error));

  let rows = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      rows += 1;
      yield { record, file, line: info.lines };
    }
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(file, `is not valid CSV (${(error as Error).message})`, 'Fix that line or check the delimiter');
  }

  if (rows === 0) throw new CheckpointError(file, 'contains no data rows', 'Expected a header line followed by one record per line');
}
