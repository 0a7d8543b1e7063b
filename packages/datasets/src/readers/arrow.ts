import * as fs from 'fs';

import { RecordBatchReader } from 'apache-arrow';

import { CheckpointError } from '@modularevo/core-tensor';

import { requireFile, toPlainValue, type LocatedRecord } from './record';

/**
 * Yields the rows of an Arrow IPC file (the file format of `.arrow` / `.feather` v2, or the
 * stream format that Hugging Face `datasets` writes into its cache) one record batch at a time.
 *
 * Throws `CheckpointError` naming the file when it is not Arrow IPC data or has no rows.
 */
export async function* iterateArrow(file: string): AsyncGenerator<LocatedRecord> {
  requireFile(file);

  let rows = 0;
  try {
    const reader = await RecordBatchReader.from(fs.createReadStream(file));
    for await (const batch of reader) {
      for (const row of batch) {
        rows += 1;
        yield { record: toPlainValue(row?.toJSON() ?? {}) as Record<string, unknown>, file, line: rows };
      }
    }
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(file, `is not a valid Arrow IPC file (${(error as Error).message})`, 'Check that the file is Arrow IPC (file or stream format)');
  }

  if (rows === 0) throw new CheckpointError(file, 'contains no rows', 'Expected an Arrow table with data');
}
