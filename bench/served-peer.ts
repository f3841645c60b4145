/**
 * A peer benchmark kept running in a child process that times one case per request (the PyTorch
 * peer's `--serve` mode, bench/lrdif_torch_peer.py), so that a suite can alternate its own samples
 * with the peer's: both sides then run in the same minutes of a machine whose speed drifts by
 * 20–40 % within minutes, and each pair gives a ratio of its own.
 *
 * Protocol: the child prints one JSON line `{"ready": true, ...}` once it is set up, then answers
 * each request line `{"case": name, "n": k}` with one line `{"ms": [...], "cpu_ms": [...]}` or
 * `{"error": "..."}`; it ends when its stdin closes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** One timed call of the peer: wall ms and the child's CPU ms (all its threads), as it measured them. */
export interface PeerSample {
  ms: number;
  cpuMs: number | null;
}

interface Pending {
  resolve: (line: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class ServedPeer {
  private readonly pending: Pending[] = [];
  private stderr = '';
  private ended: Error | null = null;

  private constructor(
    private readonly child: ChildProcess,
    private readonly label: string,
    private readonly explain: (stderr: string) => string | null,
  ) {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      // the tail is what names the failure (a Python traceback ends with the error)
      this.stderr = (this.stderr + d).slice(-8192);
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (text) => this.answer(text));
    child.on('error', (e) => this.end(new Error(`${label} could not run: ${e.message}`)));
    // 'close', not 'exit': the answers still buffered in stdout are read first
    child.on('close', (code, signal) => this.end(new Error(this.failure(code, signal))));
  }

  /**
   * Starts `command args` and waits for its ready line (up to `readyMs`). Rejects with the cause
   * (the interpreter missing, the child's last line of stderr, or what `explain` makes of it).
   */
  static async start(
    command: string,
    args: string[],
    opts: { label: string; readyMs?: number; explain?: (stderr: string) => string | null },
  ): Promise<{ peer: ServedPeer; info: Record<string, unknown> }> {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const peer = new ServedPeer(child, opts.label, opts.explain ?? (() => null));
    const info = await peer.next(opts.readyMs ?? 600_000, 'its ready line');
    if (info.ready !== true) {
      peer.close();
      throw new Error(`${opts.label}: expected a ready line first, got ${JSON.stringify(info).slice(0, 200)}`);
    }
    return { peer, info };
  }

  /** Times `n` calls of `name` in the child (its first request for a case warms that case up first, untimed). */
  async time(name: string, n = 1, timeoutMs = 1_800_000): Promise<PeerSample[]> {
    if (this.ended) throw this.ended;
    this.child.stdin!.write(`${JSON.stringify({ case: name, n })}\n`);
    const r = await this.next(timeoutMs, `case ${name}`);
    if (typeof r.error === 'string') throw new Error(`${this.label}: ${r.error}`);
    const ms = r.ms;
    const cpu = r.cpu_ms;
    if (!Array.isArray(ms) || ms.length !== n || !ms.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new Error(`${this.label}: case ${name}: expected {"ms": [${n} numbers]}, got ${JSON.stringify(r).slice(0, 200)}`);
    }
    return ms.map((x: number, i) => ({ ms: x, cpuMs: Array.isArray(cpu) && typeof cpu[i] === 'number' ? (cpu[i] as number) : null }));
  }

  /** Closes the child's stdin (it ends) and stops waiting for it. */
  close(): void {
    if (!this.ended) this.child.stdin!.end();
    this.end(new Error(`${this.label}: closed`));
    // a child that ignores its stdin's end is not left running
    setTimeout(() => this.child.exitCode === null && this.child.kill(), 5000).unref();
  }

  private next(timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill();
        this.end(new Error(`${this.label}: no answer for ${what} within ${timeoutMs < 10_000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`} (killed)`));
      }, timeoutMs);
      this.pending.push({ resolve, reject, timer });
    });
  }

  private answer(text: string): void {
    if (!text.trim()) return;
    const p = this.pending.shift();
    if (!p) return; // a line nobody asked for (the child's own output): not ours to read
    clearTimeout(p.timer);
    try {
      const v = JSON.parse(text) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      p.resolve(v as Record<string, unknown>);
    } catch {
      p.reject(new Error(`${this.label}: unreadable answer: ${text.slice(0, 200)}`));
    }
  }

  private failure(code: number | null, signal: NodeJS.Signals | null): string {
    const explained = this.explain(this.stderr);
    if (explained) return `${this.label}: ${explained}`;
    const last = this.stderr.trim().split('\n').pop();
    return `${this.label} ended (${signal ? `signal ${signal}` : `exit ${code}`})${last ? `: ${last}` : ''}`;
  }

  private end(e: Error): void {
    if (!this.ended) this.ended = e;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(this.ended);
    }
  }
}
