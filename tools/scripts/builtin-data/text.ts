/** Splitting and packing text into pieces that fit a token budget. */

/** Counts the tokens of a text with the built-in tokenizer. */
export type CountTokens = (text: string) => number;

/** Collapses runs of whitespace (line breaks included) to one space and trims. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

// sentence ends: Latin, Greek question mark (U+037E), Devanagari danda, Arabic question mark, CJK full stops
const SENTENCE_END = /(?<=[.!?\u037e।؟])\s+|(?<=[。！？])/u;
const CLAUSE_END = /(?<=[,;:،、，；：])\s*/u;

/** Splits running text into sentences at sentence-final punctuation; keeps the punctuation. */
export function sentences(text: string): string[] {
  return text.split(SENTENCE_END).map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * Cuts `text` into pieces of at most `maxTokens`: at sentence ends first, then at clause marks,
 * then at spaces, and as a last resort between characters (never before a combining mark, so
 * Thai and Devanagari clusters stay whole).
 */
export function fitPieces(text: string, count: CountTokens, maxTokens: number): string[] {
  if (count(text) <= maxTokens) return [text];
  // each level with the separator that puts its pieces back together
  const levels: [(t: string) => string[], string][] = [
    [sentences, joinerFor(text)],
    [(t) => t.split(CLAUSE_END), joinerFor(text)],
    [(t) => t.split(' '), ' '],
    [(t) => t.match(/\P{M}\p{M}*/gu) ?? [t], ''],
  ];
  for (const [split, joiner] of levels) {
    const parts = split(text).map((p) => p.trim()).filter((p) => p.length > 0);
    if (parts.length > 1) return pack(parts, count, { maxTokens, targetTokens: maxTokens, joiner });
  }
  return [text];
}

/** Returns the separator of sentence pieces: a space, or nothing for unspaced Chinese and Japanese text. */
export function joinerFor(text: string): string {
  return /[\u3040-\u30ff\u3400-\u9fff]/u.test(text) && !/ /.test(text) ? '' : ' ';
}

/** Options of {@link pack}. */
export interface PackOptions {
  /** Hard limit of a chunk. */
  maxTokens: number;
  /** A chunk is closed once it has at least this many tokens. */
  targetTokens: number;
  /** Put between units inside a chunk. */
  joiner: string;
}

/**
 * Packs consecutive units into chunks: a chunk grows until it reaches `targetTokens` or the
 * next unit would push it past `maxTokens`. Units longer than `maxTokens` are cut first with
 * {@link fitPieces}, so every chunk fits.
 */
export function pack(units: string[], count: CountTokens, options: PackOptions): string[] {
  const chunks: string[] = [];
  let current = '';

  for (const unit of units.flatMap((u) => fitPieces(u, count, options.maxTokens))) {
    const joined = current === '' ? unit : `${current}${options.joiner}${unit}`;
    if (current !== '' && count(joined) > options.maxTokens) {
      chunks.push(current);
      current = unit;
    } else {
      current = joined;
    }
    if (count(current) >= options.targetTokens) {
      chunks.push(current);
      current = '';
    }
  }
  if (current !== '') chunks.push(current);
  return chunks;
}

/** Lines of code packed into chunks of whole lines, preferring to end a chunk at a blank line. */
export function packLines(source: string, count: CountTokens, maxTokens: number): string[] {
  const blocks = source.replace(/\r\n/g, '\n').split(/\n{2,}/).map((b) => b.replace(/\s+$/, '')).filter((b) => b.trim().length > 0);
  const chunks: string[] = [];
  let current = '';
  for (const block of blocks) {
    // a block larger than the budget is cut between lines
    const pieces = count(block) <= maxTokens ? [block] : packLineList(block.split('\n'), count, maxTokens);
    for (const piece of pieces) {
      const joined = current === '' ? piece : `${current}\n\n${piece}`;
      if (current !== '' && count(joined) > maxTokens) {
        chunks.push(current);
        current = piece;
      } else {
        current = joined;
      }
    }
  }
  if (current !== '') chunks.push(current);
  return chunks.filter((c) => count(c) <= maxTokens);
}

function packLineList(lines: string[], count: CountTokens, maxTokens: number): string[] {
  const out: string[] = [];
  let current: string[] = [];
  for (const line of lines) {
    if (current.length > 0 && count([...current, line].join('\n')) > maxTokens) {
      out.push(current.join('\n'));
      current = [];
    }
    current.push(line);
  }
  if (current.length > 0) out.push(current.join('\n'));
  return out;
}
