/**
 * The law corpus and the `license-family` task from the SPDX licence texts (npm
 * `spdx-license-list`, CC0). The corpus stands in for FreeLaw: legal prose. Licences of the
 * task families give task examples; every other licence gives corpus documents. A paragraph
 * that occurs in licences of two families (shared boilerplate, or a licence and its
 * derivative) is never a task example, because its label would be ambiguous.
 */
import { oneLine, pack, type CountTokens } from './text';
import type { DomainData } from './types';

interface SpdxEntry {
  name: string;
  licenseText: string;
}

/** Family of an SPDX id, first matching rule wins; ids that match none are corpus licences. */
const FAMILY_RULES: [RegExp, string][] = [
  [/^AGPL-/, 'AGPL'], [/^LGPL-/, 'LGPL'], [/^GPL-/, 'GPL'], [/^BSD-/, 'BSD'], [/^MIT/, 'MIT'], [/^Apache-/, 'Apache'],
  [/^MPL-/, 'MPL'], [/^CC-BY-SA-/, 'CC-BY-SA'], [/^CC-BY-\d/, 'CC-BY'], [/^EPL-/, 'EPL'],
];

/** Returns the task family of an SPDX id, or undefined for a corpus licence. */
export function familyOf(id: string): string | undefined {
  return FAMILY_RULES.find(([rule]) => rule.test(id))?.[1];
}

/** Paragraphs of a licence text with line breaks inside a paragraph joined. */
function paragraphs(text: string): string[] {
  return text.replace(/\r\n/g, '\n').split(/\n\s*\n/).map(oneLine).filter((p) => p.length > 0);
}

/** Builds the law corpus documents (whole licence texts) and the `license-family` candidates. */
export function buildLaw(spdx: Record<string, SpdxEntry>, count: CountTokens, maxTokens: number): DomainData {
  const ids = Object.keys(spdx).sort();

  // which families (or, for corpus licences, which ids) each paragraph occurs in
  const owners = new Map<string, Set<string>>();
  for (const id of ids) {
    for (const p of paragraphs(spdx[id].licenseText)) {
      if (!owners.has(p)) owners.set(p, new Set());
      owners.get(p)!.add(familyOf(id) ?? `other:${id}`);
    }
  }

  const data: DomainData = { documents: [], candidates: [] };
  for (const id of ids) {
    const family = familyOf(id);
    const text = spdx[id].licenseText.replace(/\r\n/g, '\n').trim();
    if (family === undefined) {
      data.documents.push({ text, source: { spdx_id: id, name: spdx[id].name } });
      continue;
    }

    // task chunks from runs of paragraphs that belong to this family alone
    let run: string[] = [];
    const flush = () => {
      for (const chunk of pack(run, count, { maxTokens, targetTokens: 24, joiner: '\n\n' })) data.candidates.push({ text: chunk, label: family });
      run = [];
    };
    for (const p of paragraphs(text)) {
      if (owners.get(p)!.size === 1 && count(p) >= 8) run.push(p);
      else flush();
    }
    flush();
  }
  return data;
}
