export { accuracy, macroF1, precisionRecallF1, type PrecisionRecallF1 } from './classification';
export { computeBleu, concodeBleu, type CorpusBleu } from './corpus-bleu';
export { exactMatch, type ExactMatchMode } from './exact-match';
export { pythonSplit, pythonStrip, splitPunctuation } from './python-text';
export { nistTokens, sentenceSmoothBleu, smoothBleu } from './smooth-bleu';
