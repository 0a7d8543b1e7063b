import { CheckpointError } from '@modularevo/core-tensor';

import type { Compression } from './format';
import { requireFile, requireObject, type LocatedRecord } from './record';
import { readText } from './text-stream';

/** Returns the 1-based line of character `position` in `text`. */
function lineOf(text: string, position: number): number {
  let line = 1;
  for (let i = 0; i < position && i < text.length; i += 1) if (text.charCodeAt(i) === 10) line += 1;
  return line;
}

/**
 * Returns the line where JSON.parse failed. V8 reports either a position or the text around
 * the error: up to 10 characters on each side, with `...` where it cut the text.
 */
function errorLine(text: string, message: string): number | undefined {
  const position = /position (\d+)/.exec(message);
  if (position) return lineOf(text, Number(position[1]));

  const quoted = /(\.\.\.)?"([\s\S]+?)"(\.\.\.)? is not valid JSON$/.exec(message);
  if (!quoted) return undefined;
  const [, cutBefore, context, cutAfter] = quoted;
  const at = text.indexOf(context);
  if (at < 0 || text.indexOf(context, at + 1) >= 0) return undefined;

  if (cutBefore) return lineOf(text, at + 10);
  if (cutAfter) return lineOf(text, at + context.length - 10);
  const token = /Unexpected token '(.)'/.exec(message);
  return token ? lineOf(text, text.indexOf(token[1])) : undefined;
}

/** Returns the first clause of a JSON.parse message on one line, without the quoted text. */
function shortMessage(message: string): string {
  return message.split(/, (?:\.\.\.)?"|\n/)[0].trim();
}

/**
 * Reads a `.json` file that contains a JSON array of records. ({@link iterateRecords} sends `.json`
 * files that do not start with `[` to the JSON Lines reader, because CodeXGLUE ships JSON Lines
 * under `.json` names.)
 *
 * Throws `CheckpointError` naming the file (and the line, when JSON.parse reports a position)
 * for invalid JSON, an element that is not an object, or an empty array.
 */
export async function readJsonArray(file: string, compression: Compression = 'none'): Promise<LocatedRecord[]> {
  requireFile(file);
  const text = await readText(file, compression);

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const line = errorLine(text, message);
    const where = line === undefined ? '' : ` at line ${line}`;
    throw new CheckpointError(file, `is not valid JSON${where} (${shortMessage(message)})`, 'Fix the file or convert it to JSON Lines');
  }

  if (!Array.isArray(value)) {
    throw new CheckpointError(file, 'does not contain a JSON array of records', 'Use an array of objects, or JSON Lines');
  }
  if (value.length === 0) throw new CheckpointError(file, 'contains no records', 'The JSON array is empty');
  return value.map((element, index) => ({ record: requireObject(element, file, index + 1, 'row'), file, line: index + 1 }));
}
