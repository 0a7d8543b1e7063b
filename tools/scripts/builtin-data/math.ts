/**
 * The math corpus and the `math-topic` task from generated problems (DeepMind Mathematics
 * style: a question line, then its answer line). Corpus and task use different seeds, and a
 * task question that the corpus also has is dropped.
 */
import { createRng } from '@modularevo/core-tensor';
import { generateMathProblems } from '@modularevo/datasets';

import type { DomainData } from './types';

/** Seeds of the two problem streams. */
export const MATH_CORPUS_SEED = 20240601;
export const MATH_TASK_SEED = 20240602;

/** Problems per corpus document, as The Pile's DM Mathematics documents hold many pairs. */
const PROBLEMS_PER_DOCUMENT = 24;

/** Builds the math corpus documents and the `math-topic` candidates. */
export function buildMath(corpusPerModule: number, taskPerModule: number): DomainData {
  const corpusProblems = createRng(MATH_CORPUS_SEED).fork('order').shuffle(generateMathProblems({ seed: MATH_CORPUS_SEED, perModule: corpusPerModule }));
  const data: DomainData = { documents: [], candidates: [] };

  for (let i = 0; i < corpusProblems.length; i += PROBLEMS_PER_DOCUMENT) {
    const group = corpusProblems.slice(i, i + PROBLEMS_PER_DOCUMENT);
    data.documents.push({ text: group.map((p) => `${p.question}\n${p.answer}`).join('\n'), source: { generator: 'generateMathProblems', seed: String(MATH_CORPUS_SEED) } });
  }

  const corpusQuestions = new Set(corpusProblems.map((p) => p.question));
  for (const problem of generateMathProblems({ seed: MATH_TASK_SEED, perModule: taskPerModule })) {
    if (!corpusQuestions.has(problem.question)) data.candidates.push({ text: problem.question, label: problem.module });
  }
  return data;
}
