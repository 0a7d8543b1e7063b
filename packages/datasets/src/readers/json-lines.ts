import { CheckpointError } from '@modularevo/core-tensor';

import type { Compression } from './format';
import { requireFile, requireObject, type LocatedRecord } from './record';
import { readTextLines } from './text-stream';

/**
 * Yields the records of a JSON Lines file one line at a time, so files larger than memory
 * stream through. `.gz` and `.zst` files are decompressed on the fly. Blank lines are skipped.
 *
 * Throws `CheckpointError` naming the file and line for a line that is not valid JSON or not an
 * object, for unreadable compressed data, and for a file with no records.
 */
export async function* iterateJsonLines(file: string, compression: Compression = 'none'): AsyncGenerator<LocatedRecord> {
  requireFile(file);

  let lineNumber = 0;
  let records = 0;
  const lines = readTextLines(file, compression);
  while (true) {
    let next: IteratorResult<string>;
    try {
      next = await lines.next();
    } catch (error) {
      throw new CheckpointError(file, `could not be read after line ${lineNumber} (${(error as Error).message})`, 'The file may be truncated or not match its extension');
    }
    if (next.done) break;
    lineNumber += 1;

    const text = next.value.trim();
    if (text.length === 0) continue;

    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      await lines.return(undefined);
      throw new CheckpointError(file, `line ${lineNumber} is not valid JSON (${(error as Error).message})`, 'Fix or remove that line');
    }
    records += 1;
    yield { record: requireObject(value, file, lineNumber, 'line'), file, line: lineNumber };
  }

  if (records === 0) throw new CheckpointError(file, 'contains no records', 'Expected one JSON object per line');
}
