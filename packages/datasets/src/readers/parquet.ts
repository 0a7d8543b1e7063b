import * as fs from 'fs';

import type { AsyncBuffer } from 'hyparquet';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

import { CheckpointError } from '@modularevo/core-tensor';

import { requireFile, toPlainValue, type LocatedRecord } from './record';

/** Returns an AsyncBuffer that reads byte ranges of a local file on demand, so big files are not loaded whole. */
function fileBuffer(file: string): AsyncBuffer & { close(): void } {
  const descriptor = fs.openSync(file, 'r');
  return {
    byteLength: fs.fstatSync(descriptor).size,
    slice(start: number, end?: number): ArrayBuffer {
      const stop = end ?? this.byteLength;
      const bytes = Buffer.alloc(stop - start);
      fs.readSync(descriptor, bytes, 0, bytes.length, start);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    },
    close(): void {
      fs.closeSync(descriptor);
    },
  };
}

/**
 * Yields the rows of a Parquet file as records, one row group at a time (Snappy, gzip, zstd,
 * Brotli and LZ4 pages are supported). 64-bit integers that fit in a double become numbers.
 *
 * Throws `CheckpointError` naming the file when it is not a Parquet file or a page cannot be
 * decoded, and when it has no rows.
 */
export async function* iterateParquet(file: string, options: { columns?: string[] } = {}): AsyncGenerator<LocatedRecord> {
  requireFile(file);
  const buffer = fileBuffer(file);
  try {
    let metadata;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (error) {
      throw new CheckpointError(file, `is not a valid Parquet file (${(error as Error).message})`, 'Check that the download finished');
    }
    const total = Number(metadata.num_rows);
    if (total === 0) throw new CheckpointError(file, 'contains no rows', 'Expected a Parquet file with data');

    // one row group at a time keeps memory bounded by the largest group
    let rowStart = 0;
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({ file: buffer, metadata, compressors, rowStart, rowEnd, columns: options.columns });
      } catch (error) {
        throw new CheckpointError(file, `rows ${rowStart + 1}-${rowEnd} could not be decoded (${(error as Error).message})`, 'The file may be corrupt');
      }
      for (let i = 0; i < rows.length; i += 1) {
        yield { record: toPlainValue(rows[i]) as Record<string, unknown>, file, line: rowStart + i + 1 };
      }
      rowStart = rowEnd;
    }
  } finally {
    buffer.close();
  }
}
