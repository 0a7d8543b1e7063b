import { InvalidInputError } from '@modularevo/core-tensor';

/**
 * Returns the output folder from `--out`, or from `--output`, which some Nx targets pass.
 *
 * @throws InvalidInputError when neither is given, or both with different values
 */
export function outputFolder(flags: { out?: string; output?: string }): string {
  if (flags.out !== undefined && flags.output !== undefined && flags.out !== flags.output) {
    throw new InvalidInputError(`--out ${flags.out} and --output ${flags.output} disagree; give one output folder`);
  }
  const out = flags.out ?? flags.output;
  if (out === undefined) throw new InvalidInputError("required option '--out <dir>' not specified");
  return out;
}
