/**
 * The page's state for scripts and tests (`window.lrdifPage`): what each tab last did, as plain
 * JSON-able values (and `window.lrdifPageImage`, the last photo as processed, 8-bit RGB). The
 * browser tests read them; nothing in the page depends on them.
 */
import type { Row } from '../../bench/harness.js';
import type { CheckResult } from '../../src/selftest/index.js';

export interface PageHooks {
  device: { ready: boolean; adapter: string | null; error: string | null };
  inference: {
    ready: boolean;
    /** Model loads finished (successfully or not). */
    loads: number;
    error: string | null;
    warning: string | null;
    /** The model loaded: a shipped model's name, or the checkpoint's file name. */
    model: string | null;
    photo: { name: string; width: number; height: number } | null;
    runs: number;
    webcam: boolean;
    webcamFrames: number;
    last: null | {
      width: number;
      height: number;
      degrade: unknown;
      classNames: string[];
      faces: Array<{ score: number | null; box: { x: number; y: number; width: number; height: number } | null; probabilities: number[]; top: string }>;
      timings: Array<{ part: string; ms: number }>;
      totalMs: number;
      /** GPU memory held by live tensors after the run. */
      gpuLiveBytes: number;
    };
  };
  training: {
    running: boolean;
    done: boolean;
    error: string | null;
    phase: string;
    steps: Array<{ stage: 1 | 2; epoch: number; step: number; loss: number; accuracy: number }>;
    epochs: Array<{ stage: 1 | 2; epoch: number; trainLoss: number; trainAccuracy: number; testAccuracy: number; seconds: number }>;
    /** The last evaluation of each stage: probabilities [n·K] in test-split order. */
    evals: Partial<Record<'1' | '2', { probabilities: number[]; labels: number[]; local: number[] }>>;
    seconds: number | null;
  };
  bench: { running: boolean; done: boolean; error: string | null; rows: Row[]; table: string | null; excluded: Array<{ file: string; reason: string }> };
  selftest: { running: boolean; done: boolean; error: string | null; results: CheckResult[]; summary: string | null; ok: boolean | null };
}

export const hooks: PageHooks = {
  device: { ready: false, adapter: null, error: null },
  inference: { ready: false, loads: 0, error: null, warning: null, model: null, photo: null, runs: 0, webcam: false, webcamFrames: 0, last: null },
  training: { running: false, done: false, error: null, phase: '', steps: [], epochs: [], evals: {}, seconds: null },
  bench: { running: false, done: false, error: null, rows: [], table: null, excluded: [] },
  selftest: { running: false, done: false, error: null, results: [], summary: null, ok: null },
};

(globalThis as unknown as { lrdifPage: PageHooks }).lrdifPage = hooks;
