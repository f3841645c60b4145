/**
 * bin/build-freshness.js: the `lrdif` command runs dist/ only where it was built from the sources
 * as they are now. Checked on a small tree of its own: a build of other sources, or none, is
 * never taken for fresh.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildIsFresh, sourceDigest } from '../bin/build-freshness.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'lrdif-fresh-'));
  roots.push(root);
  mkdirSync(join(root, 'src', 'cli'), { recursive: true });
  writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(join(root, 'src', 'cli', 'launch.ts'), "import '../a.js';\n");
  writeFileSync(join(root, 'tsconfig.json'), '{}\n');
  return root;
}

function build(root: string, digest = sourceDigest(root)): void {
  mkdirSync(join(root, 'dist', 'src', 'cli'), { recursive: true });
  writeFileSync(join(root, 'dist', 'src', 'cli', 'launch.js'), '');
  writeFileSync(join(root, 'dist', 'source-digest.json'), JSON.stringify({ digest }));
}

describe('build freshness', () => {
  it('a build of the sources as they are is fresh; none, or a torn stamp, is not', () => {
    const root = tree();
    expect(buildIsFresh(root)).toBe(false);
    build(root);
    expect(buildIsFresh(root)).toBe(true);
    writeFileSync(join(root, 'dist', 'source-digest.json'), '{"dig');
    expect(buildIsFresh(root)).toBe(false);
  });

  it('an edited, added or renamed source, or another tsconfig, makes the build stale', () => {
    const root = tree();
    const d0 = sourceDigest(root);
    build(root, d0);
    writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 2;\n');
    expect(buildIsFresh(root)).toBe(false);
    writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 1;\n');
    expect(sourceDigest(root)).toBe(d0);
    expect(buildIsFresh(root)).toBe(true);
    writeFileSync(join(root, 'src', 'b.ts'), '');
    expect(buildIsFresh(root)).toBe(false);
    rmSync(join(root, 'src', 'b.ts'));
    writeFileSync(join(root, 'tsconfig.json'), '{"compilerOptions":{}}\n');
    expect(buildIsFresh(root)).toBe(false);
    writeFileSync(join(root, 'tsconfig.json'), '{}\n');
    rmSync(join(root, 'src', 'a.ts'));
    writeFileSync(join(root, 'src', 'c.ts'), 'export const a = 1;\n');
    expect(buildIsFresh(root)).toBe(false);
  });

  it('only .ts files under src/ count', () => {
    const root = tree();
    build(root);
    writeFileSync(join(root, 'src', 'notes.md'), 'x');
    mkdirSync(join(root, 'test'));
    writeFileSync(join(root, 'test', 'x.ts'), 'x');
    expect(buildIsFresh(root)).toBe(true);
  });
});
