/**
 * The modularization corpus of CodeBERT: CodeSearchNet functions of one programming language
 * (the domain), filtered and joined as CodeBERT's pre-training data and ModularEvo's CodeBERT
 * modularizer prepare them.
 */
import { getLogger, InvalidInputError } from '@modularevo/core-tensor';
import { iterateCodeSearchNet, type CodeSearchNetRecord, type CodeSearchNetSplit } from '@modularevo/datasets';

const log = getLogger('codebert');

/** The CodeSearchNet languages, which are CodeBERT's domains. */
export const CODE_SEARCH_NET_LANGUAGES = ['go', 'java', 'javascript', 'php', 'python', 'ruby'] as const;

/** Filters of the CodeBERT paper, which the original modularizer applies before tokenizing. */
export interface CodeCorpusFilters {
  /** Drop functions whose name contains `test` (default true). */
  dropTests?: boolean;
  /** Drop functions with fewer code tokens (default 20, about three lines). */
  minCodeTokens?: number;
  /** Drop functions whose documentation has fewer tokens (default 3). */
  minDocstringTokens?: number;
}

/**
 * Returns the training text of a function when it passes the filters: its code tokens, then
 * its documentation tokens, joined by single spaces. Returns undefined for a filtered function.
 */
export function codeCorpusText(record: CodeSearchNetRecord, filters: CodeCorpusFilters = {}): string | undefined {
  if ((filters.dropTests ?? true) && (record.func_name ?? '').includes('test')) return undefined;
  if (record.code_tokens.length < (filters.minCodeTokens ?? 20)) return undefined;
  if (record.docstring_tokens.length < (filters.minDocstringTokens ?? 3)) return undefined;
  return [...record.code_tokens, ...record.docstring_tokens].join(' ');
}

/**
 * Reads the texts of one language and split of a CodeSearchNet folder
 * (`<lang>/final/jsonl/<split>/<lang>_<split>_<N>.jsonl[.gz]`), filtered as {@link codeCorpusText}
 * does, and logs how many functions the filters dropped.
 *
 * @throws InvalidInputError when no function passes the filters.
 * @throws CheckpointError when the folder, its files or a record's fields are missing.
 */
export async function readCodeCorpus(root: string, language: string, split: CodeSearchNetSplit, filters: CodeCorpusFilters = {}): Promise<string[]> {
  const texts: string[] = [];
  let read = 0;
  for await (const record of iterateCodeSearchNet(root, language, split)) {
    read += 1;
    const text = codeCorpusText(record, filters);
    if (text !== undefined) texts.push(text);
  }

  log.info(`CodeSearchNet ${language} ${split}: kept ${texts.length} of ${read} functions after the CodeBERT filters`);
  if (texts.length === 0) {
    throw new InvalidInputError(
      `No ${language} ${split} function in ${root} passes the CodeBERT filters (name without "test", ` +
        `at least ${filters.minCodeTokens ?? 20} code and ${filters.minDocstringTokens ?? 3} docstring tokens); use a larger corpus or relax the filters`,
    );
  }
  return texts;
}
