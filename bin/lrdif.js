#!/usr/bin/env node
// The `lrdif` command. An installed package runs the build. In a checkout it runs the build where
// that was compiled from the sources as they are now (`npm ci` builds it; build-freshness.js
// compares digests), else the TypeScript source through tsx (the dev dependency), so it is never
// stale. launch.ts runs the command in a child process that keeps Dawn's start-up notices off stderr.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildIsFresh } from './build-freshness.js';

const source = new URL('../src/cli/launch.ts', import.meta.url);
const built = new URL('../dist/src/cli/launch.js', import.meta.url);
const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');

async function tsxRegister() {
  try {
    return (await import('tsx/esm/api')).register;
  } catch {
    return null;
  }
}

function fail(message) {
  process.stderr.write(`lrdif: error: ${message}\n`);
  process.exitCode = 1;
}

try {
  const register = existsSync(fileURLToPath(source)) && !buildIsFresh() ? await tsxRegister() : null;
  if (register) {
    register();
    await import(source.href);
  } else if (existsSync(fileURLToPath(built))) {
    await import(built.href);
  } else {
    fail('neither the TypeScript source with tsx (npm ci) nor a build (npm run build) was found');
  }
} catch (e) {
  // main.ts reports its own failures; what reaches here is a broken install (a module that cannot load)
  fail(verbose ? (e?.stack ?? String(e)) : String(e?.message ?? e).split('\n')[0]);
}
