export { buildByteLevelBpe, detectByteLevelStyle, type ByteLevelBpeFiles, type ByteLevelStyle } from './byte-level-bpe';
export { loadTokenizer, type LoadTokenizerOptions } from './load';
export { SPECIAL_TOKEN_ROLES, type AddedTokenSpec, type SpecialTokenRole } from './special-tokens';
export {
  HfTokenizer,
  type BatchEncodeOptions,
  type DecodeOptions,
  type EncodedBatch,
  type EncodeOptions,
  type Tokenizer,
} from './tokenizer';
