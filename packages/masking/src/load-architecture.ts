/**
 * Finds an architecture by name: package `@modularevo/<name>` and its `architecture` export. No
 * architecture name is written here, so adding an architecture is installing its package.
 */
import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';

import type { Architecture } from './architecture';

const SCOPE = '@modularevo';

/**
 * Returns the `architecture` export of package `@modularevo/<name>` (`loadArchitecture('gptneo')`).
 *
 * @throws InvalidInputError when the name is not a package name, the package is not installed
 *   or it exports no architecture. The message lists the installed architectures.
 */
export function loadArchitecture(name: string): Architecture {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) {
    throw new InvalidInputError(`Invalid architecture name ${JSON.stringify(name)}: ${installedHint()}`);
  }

  const exports = requireScoped(name);
  if (exports === undefined) {
    throw new InvalidInputError(`Unknown architecture "${name}": package ${SCOPE}/${name} is not installed; ${installedHint()}`);
  }
  if (!isArchitecture(exports.architecture)) {
    throw new InvalidInputError(`Package ${SCOPE}/${name} exports no "architecture", so it is not an architecture; ${installedHint()}`);
  }
  return exports.architecture;
}

/**
 * Lists the names of the installed `@modularevo/*` packages that export an architecture, sorted.
 * Loads each candidate package, so call it on an error path, not in a loop.
 */
export function installedArchitectures(): string[] {
  const names = new Set<string>();
  for (const name of scopedPackageNames()) {
    try {
      if (isArchitecture(requireScoped(name)?.architecture)) names.add(name);
    } catch {
      // a package that fails to load is not usable as an architecture
    }
  }
  return [...names].sort();
}

function installedHint(): string {
  const installed = installedArchitectures();
  return installed.length > 0
    ? `installed architectures: ${installed.join(', ')}`
    : `no architecture package is installed; install one, for example ${SCOPE}/gptneo`;
}

/** Loads `@modularevo/<name>`; returns undefined when that package itself is missing. */
function requireScoped(name: string): { architecture?: unknown } | undefined {
  const id = `${SCOPE}/${name}`;
  try {
    return require(id);
  } catch (error) {
    // Node reports "Cannot find module" and Jest's module mapper "Could not locate module"
    const message = (error as Error).message;
    const missing = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' || /Cannot find module|Could not locate module/.test(message);
    // a missing dependency of an installed package is a real failure, so only this package's absence counts
    if (missing && message.includes(id)) return undefined;
    throw error;
  }
}

/** Names of the packages in every `node_modules/@modularevo` folder that Node would search from here. */
function scopedPackageNames(): string[] {
  const names = new Set<string>();
  for (const modules of require.resolve.paths(SCOPE) ?? []) {
    const scope = path.join(modules, SCOPE);
    if (!fs.existsSync(scope)) continue;
    for (const entry of fs.readdirSync(scope)) {
      if (fs.existsSync(path.join(scope, entry, 'package.json'))) names.add(entry);
    }
  }
  return [...names];
}

function isArchitecture(value: unknown): value is Architecture {
  const candidate = value as Partial<Architecture> | undefined;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.name === 'string' &&
    typeof candidate.load === 'function' &&
    typeof candidate.objective === 'object' &&
    typeof candidate.tasks === 'object'
  );
}
