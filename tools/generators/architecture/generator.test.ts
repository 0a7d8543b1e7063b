import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import type { Tree } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';

import architectureGenerator, { templateValues, writePackageFiles } from './generator';

const repositoryRoot = path.resolve(__dirname, '..', '..', '..');

const EXPECTED_FILES = [
  'README.md',
  'jest.config.js',
  'package.json',
  'src/architecture.ts',
  'src/config.ts',
  'src/heads.ts',
  'src/index.ts',
  'src/model.ts',
  'src/objective.ts',
  'src/parity.test.ts',
  'src/tasks.ts',
  'src/weights.ts',
  'tsconfig.json',
];

function emptyWorkspace(): Tree {
  const tree = createTreeWithEmptyWorkspace();
  tree.write('tsconfig.json', JSON.stringify({ files: [], references: [{ path: 'packages/core-tensor' }] }));
  return tree;
}

function filesUnder(tree: Tree, dir: string): string[] {
  const found: string[] = [];
  const visit = (folder: string) => {
    for (const child of tree.children(folder)) {
      const full = `${folder}/${child}`;
      if (tree.isFile(full)) found.push(full.slice(dir.length + 1));
      else visit(full);
    }
  };
  visit(dir);
  return found.sort();
}

describe('architecture generator', () => {
  it('writes every package file', async () => {
    const tree = emptyWorkspace();
    await architectureGenerator(tree, { name: 'demo', modelType: 'demo_type' });

    expect(filesUnder(tree, 'packages/demo')).toEqual(EXPECTED_FILES);
    for (const file of EXPECTED_FILES) {
      const text = tree.read(`packages/demo/${file}`, 'utf-8')!;
      expect(text).not.toMatch(/<%|%>/);
    }
  });

  it('names the package and its workspace dependencies', async () => {
    const tree = emptyWorkspace();
    await architectureGenerator(tree, { name: 'demo' });
    const manifest = JSON.parse(tree.read('packages/demo/package.json', 'utf-8')!);

    expect(manifest.name).toBe('@modularevo/demo');
    expect(Object.keys(manifest.dependencies)).toEqual(
      expect.arrayContaining(['@modularevo/core-tensor', '@modularevo/datasets', '@modularevo/masking']),
    );
    expect(Object.keys(manifest.scripts)).toEqual(expect.arrayContaining(['build', 'test', 'lint', 'docs']));
  });

  it('adds modularize and finetune targets running the CLI', async () => {
    const tree = emptyWorkspace();
    await architectureGenerator(tree, { name: 'demo' });
    const { nx } = JSON.parse(tree.read('packages/demo/package.json', 'utf-8')!);

    expect(nx.name).toBe('demo');
    expect(nx.targets.modularize.options.command).toBe('npx modularevo modularize --arch demo');
    expect(nx.targets.finetune.options.command).toBe('npx modularevo finetune --arch demo');
  });

  it('references each workspace dependency in tsconfig', async () => {
    const tree = emptyWorkspace();
    await architectureGenerator(tree, { name: 'demo' });
    const manifest = JSON.parse(tree.read('packages/demo/package.json', 'utf-8')!);
    const tsconfig = JSON.parse(tree.read('packages/demo/tsconfig.json', 'utf-8')!);

    const workspaceDependencies = Object.keys(manifest.dependencies)
      .filter((name) => name.startsWith('@modularevo/'))
      .map((name) => `../${name.slice('@modularevo/'.length)}`);
    expect(tsconfig.references.map((reference: { path: string }) => reference.path).sort()).toEqual(workspaceDependencies.sort());
  });

  it('adds the root tsconfig reference once', async () => {
    const tree = emptyWorkspace();
    await architectureGenerator(tree, { name: 'demo' });
    const references = JSON.parse(tree.read('tsconfig.json', 'utf-8')!).references.map((entry: { path: string }) => entry.path);

    expect(references).toEqual(['packages/core-tensor', 'packages/demo']);
  });

  it('uses the model type in architecture and parity test', async () => {
    const tree = emptyWorkspace();
    await architectureGenerator(tree, { name: 'demo', modelType: 'demo_type' });

    expect(tree.read('packages/demo/src/architecture.ts', 'utf-8')).toContain("modelTypes: ['demo_type']");
    expect(tree.read('packages/demo/src/parity.test.ts', 'utf-8')).toContain("modelFixturesOfType('demo_type')");
    expect(tree.read('packages/demo/src/architecture.ts', 'utf-8')).toContain("name: 'demo'");
  });

  it('declares the module fine-tuning policy', async () => {
    const tree = emptyWorkspace();
    await architectureGenerator(tree, { name: 'demo' });

    const source = tree.read('packages/demo/src/architecture.ts', 'utf-8')!;
    expect(source).toContain('moduleFineTuning: { trainUnmaskedParameters: false }');
    expect(source).toContain('readCorpus(source, split, { domain })');
  });

  it('rejects an existing package', async () => {
    const tree = emptyWorkspace();
    await architectureGenerator(tree, { name: 'demo' });

    await expect(architectureGenerator(tree, { name: 'demo' })).rejects.toThrow('packages/demo/package.json already exists');
  });

  it.each(['', 'Demo', '1demo', 'de mo', 'demo_', '../demo'])('rejects the name "%s"', async (name) => {
    await expect(architectureGenerator(emptyWorkspace(), { name })).rejects.toThrow(/Invalid architecture name/);
  });

  it('rejects an invalid model type', async () => {
    await expect(architectureGenerator(emptyWorkspace(), { name: 'demo', modelType: 'Bad Type' })).rejects.toThrow(/Invalid model type/);
  });
});

describe('generated package', () => {
  // Written inside packages/ so that its tsconfig extends ../../tsconfig.base.json, but without
  // package.json, so npm workspaces, Nx and the root Jest config do not pick it up meanwhile.
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(repositoryRoot, 'packages', '.architecture-check-'));
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('type-checks against the workspace sources', () => {
    const tree = createTreeWithEmptyWorkspace();
    writePackageFiles(tree, 'generated', templateValues({ name: 'demo-check', modelType: 'demo_check' }));
    for (const file of filesUnder(tree, 'generated')) {
      if (file === 'package.json') continue;
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), tree.read(`generated/${file}`)!);
    }

    // resolve @modularevo/* to the sibling sources, as Jest does, so no package needs a build
    const checkConfig = {
      extends: './tsconfig.json',
      compilerOptions: {
        composite: false,
        incremental: false,
        noEmit: true,
        rootDir: '../..',
        baseUrl: '../..',
        types: ['node', 'jest'],
        paths: {
          '@modularevo/test-support': ['test/support/index.ts'],
          '@modularevo/*': ['packages/*/src/index.ts'],
        },
      },
      include: ['src/**/*.ts'],
      exclude: [],
    };
    fs.writeFileSync(path.join(dir, 'tsconfig.check.json'), JSON.stringify(checkConfig));

    const tsc = require.resolve('typescript/bin/tsc');
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.check.json')], { cwd: repositoryRoot, encoding: 'utf8' });
    } catch (error) {
      output = `${(error as { stdout?: string }).stdout ?? ''}${(error as Error).message}`;
    }
    expect(output).toBe('');
  }, 120_000);
});
