/**
 * Writers for the file formats the reference data lacks (Parquet, Arrow, gzip, zstd), so
 * tests can produce small files in the published formats.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';

import { tableFromJSON, tableToIPC } from 'apache-arrow';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { BasicType } from 'hyparquet-writer';

import { zstdFrame } from './zstd-frame';

/** One Parquet column: name, values and Parquet type. */
export interface ParquetColumn {
  name: string;
  data: unknown[];
  type: BasicType;
}

/** Writes a Parquet file (Snappy pages, as `datasets` and pandas write by default). */
export function writeParquet(file: string, columns: ParquetColumn[], rowGroupSize?: number): void {
  const buffer = parquetWriteBuffer({ columnData: columns as never, rowGroupSize });
  fs.writeFileSync(file, new Uint8Array(buffer));
}

/** Writes rows as an Arrow IPC file (`format: 'file'`) or stream (`'stream'`, as Hugging Face caches). */
export function writeArrow(file: string, rows: Record<string, unknown>[], format: 'file' | 'stream' = 'file'): void {
  fs.writeFileSync(file, tableToIPC(tableFromJSON(rows as never), format));
}

/** Writes text gzip-compressed. */
export function writeGzip(file: string, text: string): void {
  fs.writeFileSync(file, zlib.gzipSync(Buffer.from(text, 'utf8')));
}

/** Writes text zstd-compressed (raw and RLE blocks). */
export function writeZstd(file: string, text: string): void {
  fs.writeFileSync(file, zstdFrame(Buffer.from(text, 'utf8')));
}

/** Writes records as JSON Lines. */
export function writeJsonLines(file: string, records: unknown[]): void {
  fs.writeFileSync(file, records.map((record) => JSON.stringify(record)).join('\n') + '\n');
}
