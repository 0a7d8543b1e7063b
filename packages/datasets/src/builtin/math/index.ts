export { generateMathProblems, type MathProblemOptions } from './generate';
export { Rational } from './rational';
export { MATH_MODULES, type MathCheck, type MathModule, type MathProblem } from './types';
