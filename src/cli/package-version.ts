import { readFileSync } from 'node:fs';

/** lrdif's version from its package.json (src/cli or dist/src/cli: two or three folders up; the GPU kit's bundle: beside it). */
export function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json', './package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lrdif' && pkg.version) return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}
