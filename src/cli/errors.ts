/** How the CLI reports a failure: one clean line on stderr (the full message and stack with --verbose). */

/** Folds a multi-line message (such as the no-adapter help) into one line. */
export function oneLine(message: string): string {
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ')
    .replace(/^lrdif:\s*/, '');
}

export function reportError(err: unknown, verbose: boolean): void {
  const e = err instanceof Error ? err : new Error(String(err));
  if (verbose) process.stderr.write(`lrdif: error: ${e.stack ?? e.message}\n`);
  else process.stderr.write(`lrdif: error: ${oneLine(e.message)}\n`);
}
