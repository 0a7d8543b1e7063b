import { InvalidInputError } from '@modularevo/core-tensor';
import type { Architecture } from '@modularevo/masking';

/** Architectures this repository ships, as `--arch` takes them. */
export const KNOWN_ARCHITECTURES = ['gptneo', 'codebert', 'codet5'];

/**
 * Returns the `architecture` export of package `@modularevo/<name>`. The cost package uses
 * architectures only through that interface, so any installed package that exports one works.
 *
 * @throws InvalidInputError when the name is invalid, the package is not installed, or it
 *   exports no `architecture`.
 */
export function loadArchitecturePackage(name: string): Architecture {
  const hint = `use one of ${KNOWN_ARCHITECTURES.join(', ')} (an installed @modularevo/<name> package that exports "architecture")`;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new InvalidInputError(`Invalid architecture "${name}": ${hint}`);

  let exports: { architecture?: Architecture };
  try {
    exports = require(`@modularevo/${name}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && (error as Error).message.includes(`@modularevo/${name}`)) {
      throw new InvalidInputError(`Unknown architecture "${name}": package @modularevo/${name} is not installed; ${hint}`);
    }
    throw error;
  }
  if (!exports.architecture) {
    throw new InvalidInputError(`Architecture "${name}" is not available: @modularevo/${name} exports no "architecture" yet; ${hint}`);
  }
  return exports.architecture;
}
