import { createRng, InvalidInputError } from '@modularevo/core-tensor';

import { Draw } from './draw';
import { algebraProblem } from './modules/algebra';
import { arithmeticProblem } from './modules/arithmetic';
import { calculusProblem } from './modules/calculus';
import { comparisonProblem } from './modules/comparison';
import { measurementProblem } from './modules/measurement';
import { numbersProblem } from './modules/numbers';
import { polynomialsProblem } from './modules/polynomials';
import { probabilityProblem } from './modules/probability';
import { MATH_MODULES, type MathModule, type MathProblem } from './types';

const GENERATORS: Record<MathModule, (draw: Draw) => MathProblem> = {
  arithmetic: arithmeticProblem,
  algebra: algebraProblem,
  polynomials: polynomialsProblem,
  calculus: calculusProblem,
  comparison: comparisonProblem,
  numbers: numbersProblem,
  measurement: measurementProblem,
  probability: probabilityProblem,
};

/** Options of {@link generateMathProblems}. */
export interface MathProblemOptions {
  /** Seed of the random stream, an integer in [0, 2^32 - 1]. */
  seed: number;
  /** Problems per module. */
  perModule: number;
  /** Modules to generate, in this order. Default: all of {@link MATH_MODULES}. */
  modules?: readonly MathModule[];
}

/**
 * Generates mathematics problems in the style of DeepMind Mathematics (a question line and an
 * exact answer line) from a seeded stream: the same options always give the same problems, on
 * every machine. Each module draws from its own stream (`seed` forked by module name), so
 * asking for more modules or problems never changes the problems of another module.
 * Duplicate questions within a module are skipped, so every returned question is distinct.
 *
 * Returns the problems grouped by module, in the order of `modules`. Throws `InvalidInputError`
 * for an unknown module or a count that is not a non-negative integer.
 */
export function generateMathProblems(options: MathProblemOptions): MathProblem[] {
  const modules = options.modules ?? MATH_MODULES;
  if (!Number.isSafeInteger(options.perModule) || options.perModule < 0) {
    throw new InvalidInputError(`Invalid number of math problems per module ${options.perModule}: use a non-negative integer`);
  }
  const root = createRng(options.seed);

  const problems: MathProblem[] = [];
  for (const module of modules) {
    const generator = GENERATORS[module];
    if (!generator) throw new InvalidInputError(`Unknown math module "${module}": use one of ${MATH_MODULES.join(', ')}`);

    const draw = new Draw(root.fork(module));
    const seen = new Set<string>();
    let attempts = 0;
    while (seen.size < options.perModule) {
      // a module with few distinct questions would loop forever, so bound the redraws
      attempts += 1;
      if (attempts > options.perModule * 20 + 1000) {
        throw new InvalidInputError(`Math module ${module} produced only ${seen.size} distinct questions in ${attempts} draws: ask for fewer problems`);
      }
      const problem = generator(draw);
      if (seen.has(problem.question)) continue;
      seen.add(problem.question);
      problems.push(problem);
    }
  }
  return problems;
}
