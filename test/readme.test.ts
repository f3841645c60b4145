/**
 * The README's code example must keep working: it is extracted, pointed at the source instead
 * of the built package, and run in its own Node process (which must also exit by itself).
 */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNode } from './helpers/child.js';

const MARKER = '<!-- readme-example';

function readmeExample(): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const at = readme.indexOf(MARKER);
  if (at < 0) throw new Error(`README.md has no ${MARKER} --> block`);
  const m = /```ts\n([^]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error('README.md: no ```ts block after the example marker');
  return m[1];
}

describe('README example', () => {
  it('runs and trains', async () => {
    const source = fileURLToPath(new URL('../src/node.ts', import.meta.url));
    const code = readmeExample();
    expect(code).toContain("from 'lrdif/node'");
    const dir = mkdtempSync(join(tmpdir(), 'lrdif-readme-'));
    try {
      const file = join(dir, 'example.mts');
      writeFileSync(file, code.replace("from 'lrdif/node'", `from ${JSON.stringify(source)}`));
      const r = await runNode(['--import', import.meta.resolve('tsx'), file], { timeout: 120_000 });
      expect(r.error, 'the example did not exit within 120 s').toBeUndefined();
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe('30 Float32Array(4) [ 2, 4, 6, 8 ]');
      const losses = lines.slice(1).map((l) => Number(/^step \d+: loss ([\d.]+)$/.exec(l)?.[1]));
      expect(losses).toHaveLength(4);
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[3]).toBeLessThan(losses[0]); // it learns
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
