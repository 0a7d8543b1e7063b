/** The problem modules, named after the DeepMind Mathematics modules they imitate. */
export const MATH_MODULES = ['arithmetic', 'algebra', 'polynomials', 'calculus', 'comparison', 'numbers', 'measurement', 'probability'] as const;

/** A problem module (the label of the `math-topic` task). */
export type MathModule = (typeof MATH_MODULES)[number];

/**
 * What a generated answer claims, in a form that a checker can verify by another method than
 * the generator used (substitution, brute-force counting, numeric differentiation). Expressions
 * use Python syntax (`*`, `/`, `**`, unary minus) and appear in the question as written.
 */
export type MathCheck =
  /** The answer is the exact value of `expression`. */
  | { kind: 'value'; expression: string }
  /** The answer, as an expression in `variable`, is identical to `expression`. */
  | { kind: 'identity'; expression: string; variable: string }
  /** The equations hold at `solution`; the answer is `solution[variable]`, or `query` evaluated there. */
  | { kind: 'equations'; equations: string[]; solution: Record<string, string>; variable: string; query?: string }
  /** The answer is `expression` (in `variable`) evaluated at `at`. */
  | { kind: 'function-value'; expression: string; variable: string; at: string }
  /** The answer is the `order`-th derivative of `expression`: an expression, or its value at `at`. */
  | { kind: 'derivative'; expression: string; variable: string; order: number; at?: string }
  /** The answer is the degree of `expression`, or the coefficient of `variable**power`. */
  | { kind: 'coefficient'; expression: string; variable: string; power?: number }
  /** The answer picks from `values` (numbers as written): extremes, k-th, sorted, nearest. */
  | { kind: 'order'; values: string[]; ask: 'max' | 'min' | 'sort-ascending' | 'sort-descending'; k?: number }
  | { kind: 'nearest'; values: string[]; target: string }
  /** The answer is True or False for `a <relation> b`. */
  | { kind: 'relation'; a: string; b: string; relation: '<' | '<=' | '>' | '>=' | '==' | '!=' }
  /** Number theory on integers. */
  | { kind: 'number'; ask: 'gcd' | 'lcm' | 'is-prime' | 'divides' | 'remainder' | 'prime-factors' | 'round' | 'digit' | 'to-base' | 'from-base'; args: string[] }
  /** Unit conversion: `value` in `from` expressed in `to`. */
  | { kind: 'convert'; value: string; from: string; to: string }
  /** Clock arithmetic on 24-hour `HH:MM` times. */
  | { kind: 'clock'; ask: 'after' | 'before' | 'between'; start: string; minutes?: number; end?: string }
  /** Drawing letters without replacement from `bag`; the event is a multiset or a sequence. */
  | { kind: 'draw'; bag: Record<string, number>; draws: number; counts?: Record<string, number>; sequence?: string }
  /** Fair dice or coins with an event defined by `event`. */
  | { kind: 'die'; sides: number; event: 'even' | 'odd' | 'greater' | 'less' | 'multiple' | 'prime'; k?: number }
  | { kind: 'coins'; count: number; heads: number; comparison: 'exactly' | 'at least' | 'at most' };

/** One generated problem: a question line and its exact answer line. */
export interface MathProblem {
  module: MathModule;
  /** Problem kind and phrasing (`arithmetic/add/3/decimal`); the same id means the same wording pattern. */
  template: string;
  question: string;
  answer: string;
  check: MathCheck;
}
