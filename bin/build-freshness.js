// Whether dist/ was compiled from the sources as they are now: `npm run build` records a digest of
// what the compiler reads (src/**/*.ts and tsconfig.json) in dist/source-digest.json, and
// bin/lrdif.js runs the build only where the digest of the sources still matches, else the
// TypeScript source through tsx. The build starts in about 0.5 s, tsx in 1.5 s (2.5 s with its
// cache cold), and the command runs in two processes (src/cli/launch.ts), each paying it.
// Plain JavaScript with no dependencies: it runs before anything is compiled or registered.
//
//   node bin/build-freshness.js --clear   (the start of `npm run build`) drops the record, so no
//                                         command takes a build being written for fresh
//   node bin/build-freshness.js --write   (the end of `npm run build`) records the digest
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STAMP = join(ROOT, 'dist', 'source-digest.json');

/** The digest of the compiler's inputs: every .ts file under src/ (path and content, in a fixed order) and tsconfig.json. */
export function sourceDigest(root = ROOT) {
  const h = createHash('sha256');
  const walk = (dir) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) h.update(`\0${relative(root, p)}\0`).update(readFileSync(p));
    }
  };
  walk(join(root, 'src'));
  h.update('\0tsconfig.json\0').update(readFileSync(join(root, 'tsconfig.json')));
  return h.digest('hex');
}

/** Whether dist/ holds a build of the sources as they are now (false where either is missing or unreadable). */
export function buildIsFresh(root = ROOT) {
  try {
    const stamp = join(root, 'dist', 'source-digest.json');
    if (!existsSync(stamp) || !existsSync(join(root, 'dist', 'src', 'cli', 'launch.js'))) return false;
    return JSON.parse(readFileSync(stamp, 'utf8')).digest === sourceDigest(root);
  } catch {
    return false;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--clear')) rmSync(STAMP, { force: true });
  if (process.argv.includes('--write')) {
    const tmp = `${STAMP}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ digest: sourceDigest(), at: new Date().toISOString() })}\n`);
    renameSync(tmp, STAMP);
  }
}
