/**
 * The code corpus and the `code-language` task from source files shipped in pinned npm
 * packages. The corpus replaces the GitHub part of The Pile. Each file goes either to the
 * corpus or to the task (by a hash of its path), so no snippet of a task file is in the corpus.
 */
import * as fs from 'fs';
import * as path from 'path';

import { hashFraction } from '@modularevo/datasets';

import { packLines, type CountTokens } from './text';
import type { DomainData } from './types';

/** One group of source files: a package, the files taken from it, their language and licence. */
export interface CodeSource {
  package: string;
  /** Folders (relative to the package) searched recursively. */
  folders: string[];
  /** File names taken (tested on the name within the folder). */
  include: RegExp;
  exclude?: RegExp;
  /** `code-language` label, or undefined for corpus-only text such as Markdown. */
  language: 'python' | 'javascript' | 'typescript' | 'cpp' | 'shell' | undefined;
  /** SPDX id of the files' licence. */
  license: string;
  /** Licence file of the package, relative to the package, copied next to the data. */
  licenseFile: string;
}

/** Every file the code data is built from. */
export const CODE_SOURCES: CodeSource[] = [
  { package: 'node-gyp', folders: ['gyp/pylib/gyp'], include: /\.py$/, language: 'python', license: 'BSD-3-Clause', licenseFile: 'gyp/LICENSE' },
  { package: 'commander', folders: ['lib'], include: /\.js$/, language: 'javascript', license: 'MIT', licenseFile: 'LICENSE' },
  { package: 'cli-progress', folders: ['lib'], include: /\.js$/, language: 'javascript', license: 'MIT', licenseFile: 'LICENSE.md' },
  { package: 'node-gyp', folders: ['lib', 'bin'], include: /\.js$/, language: 'javascript', license: 'MIT', licenseFile: 'LICENSE' },
  // the flatbuffers bindings under src/fb are generated code, so they are left out
  { package: 'apache-arrow', folders: ['src'], include: /\.ts$/, exclude: /\.d\.ts$|^src\/fb\//, language: 'typescript', license: 'Apache-2.0', licenseFile: 'LICENSE.txt' },
  { package: 'node-addon-api', folders: ['.'], include: /^napi(-inl)?\.h$/, language: 'cpp', license: 'MIT', licenseFile: 'LICENSE.md' },
  { package: '@parcel/watcher', folders: ['src'], include: /\.(cc|hh)$/, language: 'cpp', license: 'MIT', licenseFile: 'LICENSE' },
  { package: 'bats', folders: ['libexec/bats-core', 'lib/bats-core'], include: /^(bats[-\w]*|[\w-]+\.bash)$/, language: 'shell', license: 'MIT', licenseFile: 'LICENSE.md' },
  { package: 'bats', folders: ['.'], include: /^(un)?install\.sh$/, language: 'shell', license: 'MIT', licenseFile: 'LICENSE.md' },
  { package: 'node-gyp', folders: ['.'], include: /\.sh$/, language: 'shell', license: 'MIT', licenseFile: 'LICENSE' },
  { package: 'node-gyp', folders: ['gyp/docs'], include: /\.md$/, language: undefined, license: 'BSD-3-Clause', licenseFile: 'gyp/LICENSE' },
  { package: 'node-gyp', folders: ['.'], include: /^README\.md$/, language: undefined, license: 'MIT', licenseFile: 'LICENSE' },
  { package: 'bats', folders: ['.'], include: /^README\.md$/, language: undefined, license: 'MIT', licenseFile: 'LICENSE.md' },
  { package: 'commander', folders: ['.'], include: /^Readme\.md$/i, language: undefined, license: 'MIT', licenseFile: 'LICENSE' },
];

/** Share of each language's files that go to the task; shell has the least material. */
const TASK_SHARE: Record<string, number> = { python: 0.2, javascript: 0.3, typescript: 0.2, cpp: 0.5, shell: 0.5 };

/** One source file with its provenance. */
export interface SourceFile {
  package: string;
  version: string;
  license: string;
  /** Path inside the package. */
  file: string;
  language: CodeSource['language'];
  text: string;
}

function filesUnder(root: string, folder: string, source: CodeSource): string[] {
  const dir = path.join(root, folder);
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const relative = path.posix.join(folder, entry.name).replace(/^\.\//, '');
    if (entry.isDirectory() && folder !== '.') out.push(...filesUnder(root, relative, source));
    else if (entry.isFile() && source.include.test(entry.name) && !source.exclude?.test(relative)) out.push(relative);
  }
  return out;
}

/** Lists every source file of {@link CODE_SOURCES} under `nodeModules`, in a fixed order. */
export function listSourceFiles(nodeModules: string, versions: Record<string, string>): SourceFile[] {
  return CODE_SOURCES.flatMap((source) => {
    const root = path.join(nodeModules, source.package);
    return source.folders.flatMap((folder) => filesUnder(root, folder, source)).map((file) => ({
      package: source.package,
      version: versions[source.package],
      license: source.license,
      file,
      language: source.language,
      text: fs.readFileSync(path.join(root, file), 'utf8').replace(/\r\n/g, '\n'),
    }));
  });
}

/** Drops a leading comment block that holds a licence or copyright notice, so task snippets are code. */
function withoutLicenseHeader(text: string): string {
  const header = /^(?:#![^\n]*\n)?(?:\s*(?:\/\/[^\n]*|#[^\n]*)\n)+|^\s*\/\*[\s\S]*?\*\/\s*\n/.exec(text);
  if (header && /licen[cs]e|copyright/i.test(header[0])) return text.slice(header[0].length).replace(/^\s*\n/, '');
  return text;
}

/** Builds the code corpus documents (whole files) and the `code-language` candidates (snippets). */
export function buildCode(files: SourceFile[], count: CountTokens, maxTokens: number): DomainData {
  const data: DomainData = { documents: [], candidates: [] };
  for (const file of files) {
    const toTask = file.language !== undefined && hashFraction(`${file.package}/${file.file}`) < TASK_SHARE[file.language];
    if (!toTask) {
      data.documents.push({ text: file.text, source: { package: file.package, version: file.version, license: file.license, file: file.file, language: file.language ?? 'markdown' } });
      continue;
    }

    // snippets of whole lines with some code in them: at least 3 non-blank lines and 24 tokens
    for (const snippet of packLines(withoutLicenseHeader(file.text), count, maxTokens)) {
      const lines = snippet.split('\n').filter((line) => line.trim().length > 0);
      if (lines.length >= 3 && count(snippet) >= 24) data.candidates.push({ text: snippet, label: file.language! });
    }
  }
  return data;
}
