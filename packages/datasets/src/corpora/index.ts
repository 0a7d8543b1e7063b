export { tokenizeToBlocks, type TokenBlocks } from './blocks';
export {
  codeSearchNetFiles,
  codeSearchNetLanguages,
  iterateCodeSearchNet,
  readCodeSearchNet,
  type CodeSearchNetRecord,
  type CodeSearchNetSplit,
} from './codesearchnet';
export { corpusFiles, iterateCorpusTexts, readCorpusTexts, type CorpusOptions, type CorpusSplit } from './text-corpus';
