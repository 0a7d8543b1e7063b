/**
 * `nx g @modularevo/tools:architecture NAME`: scaffolds `packages/NAME`, an architecture package
 * that implements the `Architecture` interface of `@modularevo/masking` with TODO bodies, its Nx
 * targets, a parity test skeleton and its reference in the root `tsconfig.json`.
 */
import * as path from 'path';

import { generateFiles, joinPathFragments, logger, names, updateJson, type Tree } from '@nx/devkit';

/** Options as `schema.json` defines them. */
export interface ArchitectureGeneratorSchema {
  /** Package and `--arch` name, for example `codebert`. */
  name: string;
  /** Hugging Face `model_type` of the checkpoints this architecture loads; defaults to `name`. */
  modelType?: string;
  /** One-line package description. */
  description?: string;
}

/** Values the templates in `files/` substitute. */
export interface TemplateValues {
  /** Package folder and `--arch` name (`codebert`). */
  name: string;
  /** npm package name (`@modularevo/codebert`). */
  packageName: string;
  /** Prefix of class and type names (`Codebert`). */
  className: string;
  /** Prefix of function names (`codebert`). */
  propertyName: string;
  modelType: string;
  description: string;
  /** Versions the package depends on, the same as the sibling packages use. */
  workspaceVersion: string;
  tfjsVersion: string;
}

/** Folder of the architecture packages, relative to the workspace root. */
export const PACKAGES_DIR = 'packages';

const NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

// The sibling packages pin these versions; a new package uses the same ones.
const WORKSPACE_VERSION = '0.1.0';
const TFJS_VERSION = '4.22.0';

/**
 * Checks the options and fills the defaults.
 *
 * @throws Error when the name or model type is not a lower-case identifier.
 */
export function templateValues(options: ArchitectureGeneratorSchema): TemplateValues {
  const name = (options.name ?? '').trim();
  if (!NAME_PATTERN.test(name)) {
    throw new Error(`Invalid architecture name "${options.name}": use lower-case letters and digits, words joined by hyphens, starting with a letter (for example codebert)`);
  }
  const modelType = (options.modelType ?? name).trim();
  if (!/^[a-z][a-z0-9_-]*$/.test(modelType)) {
    throw new Error(`Invalid model type "${options.modelType}": use the model_type of the checkpoints' config.json (for example roberta or gpt_neo)`);
  }

  const { className, propertyName } = names(name);
  return {
    name,
    packageName: `@modularevo/${name}`,
    className,
    propertyName,
    modelType,
    description: options.description?.trim() || `${className} on TensorFlow.js with mask support, its modularization objective, task heads and tasks.`,
    workspaceVersion: WORKSPACE_VERSION,
    tfjsVersion: TFJS_VERSION,
  };
}

/** Writes the package files of `values` under `dir` (a path in `tree`). */
export function writePackageFiles(tree: Tree, dir: string, values: TemplateValues): void {
  // `tmpl` strips the `.template` suffix that keeps the templates out of tsc, eslint and jest
  generateFiles(tree, path.join(__dirname, 'files'), dir, { ...values, tmpl: '' });
}

/** Adds `packages/<name>` to the project references of the root `tsconfig.json`, once. */
export function addRootReference(tree: Tree, name: string): void {
  const reference = `${PACKAGES_DIR}/${name}`;
  updateJson(tree, 'tsconfig.json', (json) => {
    const references: { path: string }[] = json.references ?? [];
    if (!references.some((entry) => entry.path.replace(/^\.\//, '') === reference)) references.push({ path: reference });
    return { ...json, references };
  });
}

/**
 * Scaffolds `packages/<name>`. Throws when that folder already contains a package, so an existing
 * architecture is never overwritten.
 */
export default async function architectureGenerator(tree: Tree, options: ArchitectureGeneratorSchema): Promise<() => void> {
  const values = templateValues(options);
  const dir = joinPathFragments(PACKAGES_DIR, values.name);
  if (tree.exists(joinPathFragments(dir, 'package.json'))) {
    throw new Error(`${dir}/package.json already exists: choose another name, or remove the package first`);
  }

  writePackageFiles(tree, dir, values);
  addRootReference(tree, values.name);

  return () => {
    logger.info(`Created ${values.packageName} in ${dir}. Next: run npm install to link it, fill in the TODO bodies, then npx jest ${dir}.`);
  };
}
