/**
 * Python's string whitespace (`str.isspace`, and `\s` of the `re` module on `str`), which
 * `str.split()`, `str.strip()` and the CodeXGLUE evaluators use. JavaScript's `\s` differs: it
 * lacks U+001C-U+001F and U+0085 and adds U+FEFF.
 */
const PYTHON_WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const STRIP = new RegExp(`^[${PYTHON_WHITESPACE}]+|[${PYTHON_WHITESPACE}]+$`, 'gu');
const SPLIT = new RegExp(`[${PYTHON_WHITESPACE}]+`, 'u');

// Python's \w on str is str.isalnum() or "_": letters (L*) and numbers (N*), the same set as
// \p{L}\p{N} for the characters both Unicode versions define
const WORDS_AND_PUNCTUATION = new RegExp(`[\\p{L}\\p{N}_]+|[^${PYTHON_WHITESPACE}\\p{L}\\p{N}_]`, 'gu');

/** Python's `text.strip()`. */
export function pythonStrip(text: string): string {
  return text.replace(STRIP, '');
}

/** Python's `text.split()`: split on runs of whitespace, dropping empty pieces. */
export function pythonSplit(text: string): string[] {
  return text.split(SPLIT).filter((piece) => piece.length > 0);
}

/**
 * CodeXGLUE's `splitPuncts`: runs of word characters and single punctuation characters, joined
 * by single spaces (`' '.join(re.findall(r"[\w]+|[^\s\w]", line))`).
 */
export function splitPunctuation(text: string): string {
  return (text.match(WORDS_AND_PUNCTUATION) ?? []).join(' ');
}
