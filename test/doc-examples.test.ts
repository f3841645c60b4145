/**
 * The code examples of the documentation must keep working: every ```ts block marked
 * `<!-- doc-example -->` in the repository's Markdown (README.md, docs/*.md, the READMEs under src/, …)
 * runs in its own Node process, against the source, and must exit 0 by itself
 * (test/helpers/doc-examples.ts). README.md's main example has its own test with its output
 * checked (test/readme.test.ts).
 */
import { describe, it, expect } from 'vitest';
import { collectDocExamples, docExampleFailure, extractDocExamples, rewriteImports, runDocExample, REPO_ROOT, type DocExample } from './helpers/doc-examples.js';
import { resolve } from 'node:path';

const TIMEOUT_MS = 240_000;
const examples = collectDocExamples();

describe('doc examples', () => {
  it('are found where the docs mark them', () => {
    const files = new Set(examples.map((e) => e.file));
    for (const f of ['docs/ARCHITECTURE.md', 'docs/LRDIF-SPEC.md', 'src/models/lrdif/README.md']) expect(files, f).toContain(f);
  });

  for (const ex of examples) {
    it(
      `${ex.file}:${ex.line} runs and exits`,
      async () => {
        const r = await runDocExample(ex, TIMEOUT_MS);
        expect(docExampleFailure(ex, r)).toBeNull();
      },
      TIMEOUT_MS + 30_000,
    );
  }
});

describe('doc example harness', () => {
  const md = (body: string) => ['# t', '', '<!-- doc-example: self-check -->', '```ts', body, '```', ''].join('\n');

  it('extracts marked blocks only, and rejects a marker without a block', () => {
    const text = [md("console.log('a');"), '```ts', "console.log('unmarked');", '```', '<!-- doc-example -->', '', '```ts', 'const b = 1;', '```'].join('\n');
    expect(extractDocExamples('x.md', text)).toEqual([
      { file: 'x.md', line: 3, code: "console.log('a');" },
      { file: 'x.md', line: 11, code: 'const b = 1;' },
    ]);
    expect(() => extractDocExamples('y.md', '<!-- doc-example -->\n```sh\nls\n```\n')).toThrow(/y\.md:1: .*```ts block/);
    expect(() => extractDocExamples('z.md', '<!-- doc-example -->\n```ts\nconst a = 1;\n')).toThrow(/z\.md:2: .*not closed/);
  });

  it('points the package, relative and dynamic imports at the source', () => {
    const code = "import { a } from 'lrdif/node';\nimport b from \"lrdif\";\nimport { c } from '../src/x.js';\nimport 'node:fs';\nconst d = await import('./y.js');";
    const out = rewriteImports(code, 'docs/A.md');
    expect(out).toContain(`from '${resolve(REPO_ROOT, 'src/node.ts')}'`);
    expect(out).toContain(`from "${resolve(REPO_ROOT, 'src/index.ts')}"`);
    expect(out).toContain(`from '${resolve(REPO_ROOT, 'src/x.js')}'`);
    expect(out).toContain("import 'node:fs'");
    expect(out).toContain(`import('${resolve(REPO_ROOT, 'docs/y.js')}')`);
  });

  it('fails an example that throws, and one that does not exit', async () => {
    const throwing: DocExample = { file: 'self-check.md', line: 1, code: "import { tensor } from 'lrdif';\nvoid tensor;\nthrow new Error('doc example self-check');" };
    const r1 = await runDocExample(throwing, 60_000);
    expect(docExampleFailure(throwing, r1)).toMatch(/self-check\.md:1 exited with status 1:[^]*doc example self-check/);
    const hanging: DocExample = { file: 'self-check.md', line: 2, code: 'setInterval(() => {}, 1000);' };
    const r2 = await runDocExample(hanging, 8_000);
    expect(docExampleFailure(hanging, r2)).toMatch(/self-check\.md:2 did not exit by itself/);
    const fine: DocExample = { file: 'self-check.md', line: 3, code: "import { join } from 'node:path';\nconsole.log(join('a', 'b'));" };
    expect(docExampleFailure(fine, await runDocExample(fine, 60_000))).toBeNull();
  }, 150_000);
});
