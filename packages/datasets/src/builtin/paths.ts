import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

/** Environment variable that points at a `datasets/builtin` folder outside a repository clone. */
export const BUILTIN_DATA_ENV = 'MODULAREVO_BUILTIN_DATA';

/** Folder of the tiny GPT-Neo (tokenizer, and the pretrained weights once made) inside the built-in data. */
export const BUILTIN_MODEL_FOLDER = 'gpt-neo-tiny';

/**
 * Returns the folder of the built-in corpora, tasks and tiny model: `$MODULAREVO_BUILTIN_DATA`
 * when set, else `datasets/builtin` of the repository this package sits in (found from this
 * file, so it works from `src/` and from the compiled `dist/`).
 *
 * Throws `CheckpointError` when the folder or its `manifest.json` is missing, for example in
 * an installed copy of the package, which does not ship the data.
 */
export function builtinDataDir(): string {
  const fromEnv = process.env[BUILTIN_DATA_ENV];

  // packages/datasets/{src,dist}/builtin -> repository root
  const dir = fromEnv ? path.resolve(fromEnv) : path.resolve(__dirname, '..', '..', '..', '..', 'datasets', 'builtin');
  if (!fs.existsSync(path.join(dir, 'manifest.json'))) {
    const hint = fromEnv
      ? `Point ${BUILTIN_DATA_ENV} at the datasets/builtin folder of a ModularEvo clone`
      : `Run from a clone of the ModularEvo repository, or set ${BUILTIN_DATA_ENV} to its datasets/builtin folder`;
    throw new CheckpointError(dir, 'built-in data not found (no manifest.json)', hint);
  }
  return dir;
}

/** Returns the folder of the built-in tiny GPT-Neo; throws as {@link builtinDataDir} does. */
export function builtinModelDir(): string {
  return path.join(builtinDataDir(), BUILTIN_MODEL_FOLDER);
}
