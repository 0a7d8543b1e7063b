/**
 * Locates the reference data that tests compare against: tiny Hugging Face checkpoints with
 * outputs from `transformers` and golden outputs of the original ModularEvo code (the fixtures),
 * and small real subsets of the paper's datasets. `MODULAREVO_FIXTURES` and `MODULAREVO_DATASETS`
 * point at them; the defaults are `../shared/fixtures` and `../shared/datasets` next to the
 * repository. Tests iterate what they find, so another set with the same layout works unchanged.
 */
import * as fs from 'fs';
import * as path from 'path';

const repositoryRoot = path.resolve(__dirname, '..', '..');

/** Returns the root of the fixtures, from `MODULAREVO_FIXTURES` or `../shared/fixtures`. */
export function fixturesRoot(): string {
  return path.resolve(process.env.MODULAREVO_FIXTURES ?? path.join(repositoryRoot, '..', 'shared', 'fixtures'));
}

/** Returns the root of the dataset subsets, from `MODULAREVO_DATASETS` or `../shared/datasets`. */
export function datasetsRoot(): string {
  return path.resolve(process.env.MODULAREVO_DATASETS ?? path.join(repositoryRoot, '..', 'shared', 'datasets'));
}

function requirePath(root: string, variable: string, parts: string[]): string {
  const target = path.join(root, ...parts);
  if (!fs.existsSync(target)) {
    throw new Error(
      `Reference data not found: ${target}. Set ${variable} to a folder with this layout (now ${root}).`,
    );
  }
  return target;
}

/** Returns the path of a fixture file or folder, failing with its name when it is absent. */
export function fixture(...parts: string[]): string {
  return requirePath(fixturesRoot(), 'MODULAREVO_FIXTURES', parts);
}

/** Returns the path of a dataset file or folder, failing with its name when it is absent. */
export function dataset(...parts: string[]): string {
  return requirePath(datasetsRoot(), 'MODULAREVO_DATASETS', parts);
}

/** Returns the model fixture folders (every folder under `models/` with a `config.json`). */
export function modelFixtures(): { name: string; dir: string }[] {
  const models = fixture('models');
  const found = fs
    .readdirSync(models)
    .filter((name) => fs.existsSync(path.join(models, name, 'config.json')))
    .sort()
    .map((name) => ({ name, dir: path.join(models, name) }));
  if (found.length === 0) throw new Error(`No model fixtures (folders with config.json) under ${models}`);
  return found;
}

/** Returns the model fixture folders whose `config.json` has this `model_type`. */
export function modelFixturesOfType(modelType: string): { name: string; dir: string }[] {
  const found = modelFixtures().filter(({ dir }) => {
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    return config.model_type === modelType;
  });
  if (found.length === 0) throw new Error(`No model fixture with model_type "${modelType}" under ${fixture('models')}`);
  return found;
}

/** Reads a JSON fixture file. */
export function readJsonFixture<T = any>(...parts: string[]): T {
  return JSON.parse(fs.readFileSync(fixture(...parts), 'utf8')) as T;
}

/** Creates a fresh temporary folder for one test. */
export function temporaryDir(prefix = 'modularevo-test-'): string {
  return fs.mkdtempSync(path.join(require('os').tmpdir(), prefix));
}
