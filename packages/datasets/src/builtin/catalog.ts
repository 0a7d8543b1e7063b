import type { TaskName } from '../tasks';

/** The built-in domain corpora. */
export const BUILTIN_DOMAINS = ['math', 'law', 'multilingual', 'code'] as const;

/** A built-in domain. */
export type BuiltinDomain = (typeof BUILTIN_DOMAINS)[number];

/** Description of a built-in corpus, with the component of The Pile that ModularEvo uses for its domain. */
export interface BuiltinDomainInfo {
  domain: BuiltinDomain;
  /** `meta.pile_set_name` of every document. */
  pileSetName: string;
  /** The Pile component that ModularEvo uses for this domain. */
  standsFor: string;
  description: string;
}

export const BUILTIN_DOMAIN_INFO: Readonly<Record<BuiltinDomain, BuiltinDomainInfo>> = {
  math: { domain: 'math', pileSetName: 'Math (generated)', standsFor: 'DM Mathematics', description: 'Generated problems in the style of DeepMind Mathematics: a question line, then the answer line' },
  law: { domain: 'law', pileSetName: 'Law (SPDX licences)', standsFor: 'FreeLaw', description: 'Full texts of SPDX licences outside the license-family task families' },
  multilingual: { domain: 'multilingual', pileSetName: 'Multilingual (UDHR)', standsFor: 'EuroParl', description: 'The Universal Declaration of Human Rights in 56 languages' },
  code: { domain: 'code', pileSetName: 'Code (npm packages)', standsFor: 'Github', description: 'Python, JavaScript, TypeScript, C++, shell and Markdown files shipped in npm packages' },
};

/** The built-in downstream tasks. */
export const BUILTIN_TASKS = ['math-topic', 'license-family', 'langid', 'code-language'] as const;

/** A built-in task. */
export type BuiltinTask = (typeof BUILTIN_TASKS)[number];

/** Description of a built-in task, with its default domain (whose module it fine-tunes) and the ModularEvo task it replaces. */
export interface BuiltinTaskInfo {
  task: BuiltinTask;
  domain: BuiltinDomain;
  standsFor: TaskName;
  description: string;
}

export const BUILTIN_TASK_INFO: Readonly<Record<BuiltinTask, BuiltinTaskInfo>> = {
  'math-topic': { task: 'math-topic', domain: 'math', standsFor: 'mathqa', description: 'Classify a math question by its problem module (arithmetic, algebra, ...)' },
  'license-family': { task: 'license-family', domain: 'law', standsFor: 'scotus', description: 'Classify a licence passage by its licence family (GPL, MIT, CC-BY, ...)' },
  langid: { task: 'langid', domain: 'multilingual', standsFor: 'langid', description: 'Identify the language of a UDHR sentence' },
  'code-language': { task: 'code-language', domain: 'code', standsFor: 'code', description: 'Classify a source snippet by its programming language' },
};
