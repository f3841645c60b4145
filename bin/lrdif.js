#!/usr/bin/env node
// The `lrdif` command. In a checkout (src/ and the dev dependency tsx present) it runs the
// TypeScript source directly, so it is never stale; an installed package runs the build.
// launch.ts runs the command in a child process that keeps Dawn's start-up notices off stderr.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
  const register = existsSync(fileURLToPath(source)) ? await tsxRegister() : null;
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
