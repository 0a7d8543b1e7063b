import * as fs from 'fs';
import * as nodePath from 'path';

import { InvalidInputError } from '../errors';

/** Returns a sibling path for writing `path` before renaming it into place. */
export function temporaryPath(path: string): string {
  const suffix = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  return nodePath.join(nodePath.dirname(path), `.${nodePath.basename(path)}.tmp-${suffix}`);
}

/** Removes a file or folder, ignoring a missing one. */
export function removeQuietly(path: string): void {
  fs.rmSync(path, { recursive: true, force: true });
}

/** Writes `data` to `path` through a temporary file, so readers never see a partial file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temporary = temporaryPath(path);
  try {
    fs.writeFileSync(temporary, data);
    fs.renameSync(temporary, path);
  } catch (error) {
    removeQuietly(temporary);
    throw error;
  }
}

/** Writes `value` as indented JSON to `path` atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Builds a folder in a temporary sibling and renames it to `dir` once `build` succeeds, so a
 * failure leaves no half-written output. Throws when `dir` already exists and is not empty,
 * unless `overwrite` is set.
 */
export async function writeFolderAtomic(
  dir: string,
  build: (temporaryDir: string) => Promise<void> | void,
  options: { overwrite?: boolean } = {},
): Promise<void> {
  const exists = fs.existsSync(dir);
  if (exists && fs.readdirSync(dir).length > 0 && !options.overwrite) {
    throw new InvalidInputError(`Output folder ${dir} already exists and is not empty; choose another folder or remove it`);
  }
  fs.mkdirSync(nodePath.dirname(nodePath.resolve(dir)), { recursive: true });
  const temporary = temporaryPath(dir);
  fs.mkdirSync(temporary);
  try {
    await build(temporary);
    if (exists) removeQuietly(dir);
    fs.renameSync(temporary, dir);
  } catch (error) {
    removeQuietly(temporary);
    throw error;
  }
}
