/**
 * The runnable examples of the repository's Markdown: a ```ts block right after a line
 * `<!-- doc-example -->` (anything may follow the word, e.g. `<!-- doc-example: what it shows -->`).
 * Each is written to its own file with its imports pointed at the source — 'lrdif' →
 * src/index.ts, 'lrdif/node' → src/node.ts, './…' and '../…' resolved from the Markdown file's
 * folder — and run in its own Node process through tsx, which must exit 0 by itself.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNode, withoutDawnNotices, type ChildResult } from './child.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DOC_EXAMPLE_MARKER = /^<!--\s*doc-example\b.*-->\s*$/;

export interface DocExample {
  /** The Markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the marker. */
  line: number;
  code: string;
}

const SKIP_DIRS = new Set(['node_modules', 'dist', 'coverage']);

/** Every Markdown file of the repository (hidden folders, node_modules and build output left out), sorted. */
export function markdownFiles(root = REPO_ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) walk(p);
      } else if (e.name.endsWith('.md')) out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

/** The marked blocks of one Markdown text; a marker not followed by a closed ```ts block is an error naming file and line. */
export function extractDocExamples(file: string, text: string): DocExample[] {
  const lines = text.split(/\r?\n/);
  const out: DocExample[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!DOC_EXAMPLE_MARKER.test(lines[i].trim())) continue;
    let j = i + 1;
    while (j < lines.length && lines[j].trim() === '') j++;
    if (!/^```(ts|typescript)\s*$/.test(lines[j] ?? '')) {
      throw new Error(`${file}:${i + 1}: a doc-example marker must be followed by a \`\`\`ts block, found ${JSON.stringify(lines[j] ?? '(end of file)')}`);
    }
    const start = j + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    if (end >= lines.length) throw new Error(`${file}:${j + 1}: the doc-example block is not closed with \`\`\``);
    out.push({ file, line: i + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return out;
}

/** Every marked example of the repository's Markdown files. */
export function collectDocExamples(root = REPO_ROOT): DocExample[] {
  return markdownFiles(root).flatMap((f) => extractDocExamples(f, readFileSync(join(root, f), 'utf8')));
}

/** The example's code with its module specifiers pointed at the source (see the file comment). */
export function rewriteImports(code: string, markdownFile: string, root = REPO_ROOT): string {
  const dir = dirname(resolve(root, markdownFile));
  const target = (spec: string): string => {
    if (spec === 'lrdif') return resolve(root, 'src/index.ts');
    if (spec === 'lrdif/node') return resolve(root, 'src/node.ts');
    if (spec.startsWith('./') || spec.startsWith('../')) return resolve(dir, spec);
    return spec;
  };
  // static `import … from '…'`, `export … from '…'`, side-effect `import '…'` and dynamic `import('…')`
  return code.replace(/(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"\n]+)\2/g, (_m, head: string, q: string, spec: string) => `${head}${q}${target(spec)}${q}`);
}

/** Runs one example in its own Node process (tsx); the child must finish within `timeoutMs`. */
export async function runDocExample(ex: DocExample, timeoutMs: number, root = REPO_ROOT): Promise<ChildResult> {
  const dir = mkdtempSync(join(tmpdir(), 'lrdif-doc-example-'));
  try {
    const file = join(dir, 'example.mts');
    writeFileSync(file, rewriteImports(ex.code, ex.file, root));
    return await runNode(['--import', import.meta.resolve('tsx'), file], { timeout: timeoutMs, cwd: root });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why a run failed (it did not exit in time, was killed, or exited non-zero), or null when it succeeded. */
export function docExampleFailure(ex: DocExample, r: ChildResult): string | null {
  const where = `${ex.file}:${ex.line}`;
  if (r.error) return `the example at ${where} did not exit by itself: ${r.error.message}`;
  if (r.status !== 0) {
    const how = r.status === null ? `was killed by ${r.signal}` : `exited with status ${r.status}`;
    return `the example at ${where} ${how}:\n${withoutDawnNotices(r.stderr).split('\n').slice(-20).join('\n')}`;
  }
  return null;
}
