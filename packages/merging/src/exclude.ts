import { InvalidInputError } from '@modularevo/core-tensor';

/**
 * Decides which parameter names are left out of a merge. Each pattern is matched at the start
 * of the name, as Python's `re.match` does in the original ModularEvo code, so `classifier`
 * matches `classifier.weight` but not `model.classifier.weight`, and `.*classifier.*` matches both.
 */
export class ExcludeFilter {
  private readonly patterns: RegExp[];

  /** Compiles `patterns`; throws an InvalidInputError naming a pattern that is not a valid regular expression. */
  constructor(readonly sources: readonly string[]) {
    this.patterns = sources.map((source) => {
      try {
        return new RegExp(`^(?:${source})`);
      } catch (error) {
        throw new InvalidInputError(`Invalid exclude pattern ${JSON.stringify(source)}: ${(error as Error).message}`);
      }
    });
  }

  /** Returns whether `name` matches any exclude pattern. */
  excludes(name: string): boolean {
    return this.patterns.some((pattern) => pattern.test(name));
  }
}
