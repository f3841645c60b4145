/**
 * Dawn's start-up notices on stderr. Dawn prints, from native code while it enumerates the
 * adapters (inside `requestAdapter`, before lrdif asks for any limit), lines such as
 *
 *   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
 *
 * (lavapipe reports a million dynamic buffers; Dawn clamps the figure and says so). They are
 * written with C's stdio straight to file descriptor 2, so no JavaScript hook sees them and no
 * `requiredLimits` value avoids them. `launch.ts` runs the command in a child process whose
 * stderr passes through `StderrFilter`, which drops exactly these lines (`--verbose` keeps them).
 */

/** A notice Dawn prints while it reads an adapter's limits. */
export const DAWN_NOTICE = /^Warning: \w+ artificially reduced from \d+ to \d+\b/;

const PREFIX = 'Warning: ';

/**
 * Passes text through line by line, dropping the lines that match `drop`. A line is held back
 * only while it could still be such a line (it starts like one and has no newline yet), so a
 * progress line ending in '\r' is written at once.
 */
export class StderrFilter {
  private pending = '';
  /** The current line is decided (passed through so far); the rest of it is written as it comes. */
  private passing = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly drop: RegExp = DAWN_NOTICE,
  ) {}

  push(text: string): void {
    let start = 0;
    while (start < text.length) {
      const nl = text.indexOf('\n', start);
      const piece = nl < 0 ? text.slice(start) : text.slice(start, nl + 1);
      start = nl < 0 ? text.length : nl + 1;
      if (this.passing) {
        this.write(piece);
      } else {
        this.pending += piece;
        if (nl >= 0) {
          if (!this.drop.test(this.pending)) this.write(this.pending);
          this.pending = '';
        } else if (!couldBeNotice(this.pending)) {
          this.write(this.pending);
          this.pending = '';
          this.passing = true;
        }
      }
      if (nl >= 0) this.passing = false;
    }
  }

  /** Writes a held-back incomplete line (the stream ended without a newline). */
  end(): void {
    if (this.pending && !this.drop.test(this.pending)) this.write(this.pending);
    this.pending = '';
  }
}

function couldBeNotice(partial: string): boolean {
  return partial.length <= PREFIX.length ? PREFIX.startsWith(partial) : partial.startsWith(PREFIX);
}
