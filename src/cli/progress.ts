/**
 * Progress display shared by train, eval, demo and sweep: a cli-progress bar on a terminal, or
 * plain lines (about every 10 %) when stdout is not one (logs, CI) or with --plain.
 */
import cliProgress from 'cli-progress';
import type { EpochInfo, StepInfo, TrainHooks } from '../train/trainer.js';
import type { EmbedProgress } from '../train/pipeline.js';

export interface Bar {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A duration for progress lines: "42s", "2m05s", "1h07m". Rounded once, to the unit shown, before
 * it is split, so 179.6 s reads "3m00s" (not "2m60s") and 3599.7 s "1h00m". Anything that is not
 * a finite number ≥ 0 (cli-progress passes NaN or Infinity before its estimate settles) is "-".
 */
export function fmtSeconds(s: unknown): string {
  if (typeof s !== 'number' || !Number.isFinite(s) || s < 0) return '-';
  const secs = Math.round(s);
  if (secs < 60) return `${secs}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s`;
  const mins = Math.round(s / 60);
  return `${Math.floor(mins / 60)}h${String(mins % 60).padStart(2, '0')}m`;
}

/**
 * A bar over `total` units. `format` uses cli-progress tokens ({bar}, {value}, {total},
 * {eta_formatted}) and payload names; plain mode prints `plainLine(value, payload, eta)`.
 */
export function makeBar(
  total: number,
  plain: boolean,
  format: string,
  plainLine: (value: number, payload: Record<string, string | number>, eta: string) => string,
  initial: Record<string, string | number> = {},
): Bar {
  const t0 = performance.now();
  if (plain) {
    let lastDecile = -1;
    return {
      update(value, payload = {}) {
        const decile = Math.floor((10 * value) / Math.max(1, total));
        if (decile === lastDecile && value !== total) return;
        lastDecile = decile;
        const el = (performance.now() - t0) / 1000;
        const eta = value > 0 ? fmtSeconds((el / value) * (total - value)) : '-';
        process.stdout.write(`${plainLine(value, { ...initial, ...payload }, eta)}\n`);
      },
      stop() {},
    };
  }
  // formatTime: cli-progress's own formatter rounds the seconds after splitting off the minutes ("2m60s")
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stdout, hideCursor: true, barsize: 20, etaBuffer: 20, formatTime: (t: number) => fmtSeconds(t) },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, initial);
  return {
    update(value, payload) {
      bar.update(value, payload);
    },
    stop() {
      bar.stop();
    },
  };
}

export function isPlain(flag: boolean | undefined): boolean {
  return flag ?? !process.stdout.isTTY;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

/** Training hooks that draw one bar per epoch (step, images/s, loss, accuracy, ETA) and an epoch summary line. */
export function trainProgress(plain: boolean, label: string, extra: TrainHooks = {}): TrainHooks & { close(): void } {
  let bar: Bar | null = null;
  let lossAvg = 0;
  let accAvg = 0;
  let n = 0;
  const warned = new Set<string>();
  return {
    ...extra,
    close() {
      bar?.stop();
      bar = null;
    },
    onEpochStart(epoch, epochs, batches) {
      lossAvg = 0;
      accAvg = 0;
      n = 0;
      bar = makeBar(
        batches,
        plain,
        `${label} epoch ${epoch}/${epochs} |{bar}| {value}/{total} steps | {ips} img/s | loss {loss} | acc {acc} | ETA {eta_formatted}`,
        (v, p, eta) => `${label} epoch ${epoch}/${epochs} step ${v}/${batches}  ${p.ips} img/s  loss ${p.loss}  acc ${p.acc}  ETA ${eta}`,
        { ips: '-', loss: '-', acc: '-' },
      );
      extra.onEpochStart?.(epoch, epochs, batches);
    },
    onStep(s: StepInfo) {
      n++;
      lossAvg += (s.loss - lossAvg) / n;
      accAvg += (s.accuracy - accAvg) / n;
      bar?.update(s.batch, { ips: s.imagesPerSecond.toFixed(1), loss: lossAvg.toFixed(4), acc: pct(accAvg) });
      extra.onStep?.(s);
    },
    onEpochEnd(e: EpochInfo) {
      bar?.stop();
      bar = null;
      process.stdout.write(
        `${label} epoch ${e.epoch}/${e.epochs}: train loss ${e.trainLoss.toFixed(4)}, train accuracy ${pct(e.trainAccuracy)} | ` +
          (e.eval
            ? `${e.split} accuracy ${pct(e.eval.report.accuracy)} (best ${pct(e.best.accuracy)} at epoch ${e.best.epoch})${e.improved ? ' *' : ''}`
            : 'refit: no selection split, the last epoch is kept') +
          ` | ${e.seconds.toFixed(1)} s` +
          (e.collapse
            ? ` | COLLAPSED: ${e.collapse.kind === 'one-class' ? `predicts '${e.collapse.className}' for ${pct(e.collapse.share ?? 1)} of ${e.split}` : `loss at the class prior's entropy for ${e.collapse.epochs} epochs`}`
            : '') +
          '\n',
      );
      // the advice once per kind of collapse; the epoch lines keep marking it
      if (e.collapse && !warned.has(e.collapse.kind)) {
        warned.add(e.collapse.kind);
        process.stderr.write(`${label}: warning: ${e.collapse.message}\n`);
      }
      extra.onEpochEnd?.(e);
    },
    onTest(t) {
      process.stdout.write(
        `${label}: test accuracy of epoch ${t.epoch} (${t.selectedOn === 'last' ? 'the last: a refit' : `chosen on ${t.selectedOn}`}) ${pct(t.accuracy)}, mean per-class ${pct(t.meanClassAccuracy)}, on ${t.n} test images (evaluated once)\n`,
      );
      extra.onTest?.(t);
    },
  };
}

/** Embedding progress: a bar per phase (hashing files, then computing the missing embeddings). */
export function embedProgress(plain: boolean): (split: string, p: EmbedProgress) => void {
  let bar: Bar | null = null;
  let key = '';
  return (split, p) => {
    const k = `${split}|${p.phase}`;
    if (k !== key) {
      bar?.stop();
      key = k;
      const what = p.phase === 'hash' ? `hashing ${split} images` : `image embeddings of ${split} images`;
      bar = makeBar(p.total, plain, `${what} |{bar}| {value}/{total} | ETA {eta_formatted}`, (v, _p, eta) => `${what}: ${v}/${p.total} (ETA ${eta})`);
    }
    bar?.update(p.done);
    if (p.done >= p.total) {
      bar?.stop();
      bar = null;
      key = '';
    }
  };
}
