/**
 * The README's recognition table, read from run folders (never typed by hand): for each
 * degradation, LRDif stage 2 (its run's `result.json`: the epoch chosen on validation, the test
 * split evaluated once) beside the baselines of `lrdif baseline` on the same split
 * (`baseline.json`: the engine CNN chosen on validation, face-api's expression net zero-shot).
 *
 *   npx tsx scripts/results-table.ts --row "UDC=<lrdif run>,<baseline dir>[,<baseline dir>…]" [--row …] [--json out.json]
 *
 * <lrdif run> is the folder holding s1/ and s2/ (as scripts/make-pretrained or /work/runs/run2.sh
 * write them) or a stage-2 run folder itself, or the eval.json of a seed ensemble on the test
 * split (`lrdif eval --ckpt a --ckpt b … --split test`; each member a stage-2 run selected on val
 * or refitted, its wall time the members' stage-2 epochs and each distinct stage 1 once). face-api knows 7 of the 8 classes (no contempt): its
 * figures are over the test images of those 7; LRDif's are given both over all test images and
 * over the same 7 classes (from its confusion matrix), so the columns compare like with like.
 * Wall time: the sum of the runs' epoch times (both stages; embedding tables and start-up not
 * included) and the baseline's own wall_seconds — from whatever load the machine had then.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface Scores {
  accuracy: number;
  meanClass: number;
  n: number;
}

interface Row {
  data: string;
  lrdif: { all: Scores; known7: Scores; selectedEpoch: number; valAccuracy: number; seconds: number; stage1Seconds: number };
  cnn: (Scores & { seconds: number; epochs: number; source: string }) | null;
  faceapi: (Scores & { seconds: number; source: string }) | null;
}

const FACEAPI_CLASSES = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear'];

function readJson(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`results-table: cannot read ${file}: ${(e as Error).message}`);
  }
}

function epochSeconds(runDir: string): number {
  const f = path.join(runDir, 'metrics.jsonl');
  let s = 0;
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line);
    if (r.type === 'epoch' && typeof r.seconds === 'number') s += r.seconds;
  }
  return s;
}

/** Accuracy and mean per-class accuracy over the rows (true classes) `keep` of a confusion matrix. */
function fromConfusion(confusion: number[][], keep: number[]): Scores {
  let right = 0;
  let n = 0;
  const per: number[] = [];
  for (const i of keep) {
    const row = confusion[i];
    const total = row.reduce((a, b) => a + b, 0);
    if (total === 0) continue;
    right += row[i];
    n += total;
    per.push(row[i] / total);
  }
  return { accuracy: right / n, meanClass: per.reduce((a, b) => a + b, 0) / per.length, n };
}

/** A seed ensemble's row from its eval.json (the members' run folders hold their result.json and metrics). */
function ensembleRow(file: string): Row['lrdif'] {
  const e = readJson(file);
  if (!Array.isArray(e.ensemble) || e.data?.split !== 'test')
    throw new Error(`results-table: ${file} is not the eval.json of an ensemble on the test split (lrdif eval --ckpt a --ckpt b … --split test)`);
  const classes: string[] = e.classes;
  const all = fromConfusion(
    e.confusion,
    classes.map((_, i) => i),
  );
  const known = classes.map((c, i) => (FACEAPI_CLASSES.includes(c) ? i : -1)).filter((i) => i >= 0);
  let seconds = 0;
  let stage1Seconds = 0;
  const stage1s = new Set<string>();
  for (const m of e.ensemble as { checkpoint: string }[]) {
    const s2 = path.dirname(m.checkpoint);
    const r = readJson(path.join(s2, 'result.json'));
    if (r.split !== 'test' || (r.selected_on !== 'val' && r.selected_on !== 'last'))
      throw new Error(`results-table: member ${s2} is not a run selected on val or refitted (selected on ${r.selected_on})`);
    seconds += epochSeconds(s2);
    const from = readJson(path.join(s2, 'run.json')).from as string | null;
    const s1 = from ? path.dirname(from) : null;
    if (s1 && !stage1s.has(s1) && fs.existsSync(path.join(s1, 'metrics.jsonl'))) {
      stage1s.add(s1);
      stage1Seconds += epochSeconds(s1);
    }
  }
  return {
    all: { ...all, accuracy: e.accuracy, meanClass: e.mean_class_accuracy },
    known7: fromConfusion(e.confusion, known),
    selectedEpoch: NaN,
    valAccuracy: NaN,
    seconds: seconds + stage1Seconds,
    stage1Seconds,
  };
}

function lrdifRow(dir: string): Row['lrdif'] {
  if (dir.endsWith('.json')) return ensembleRow(dir);
  const s2 = fs.existsSync(path.join(dir, 's2', 'result.json')) ? path.join(dir, 's2') : dir;
  const s1 = path.join(path.dirname(s2), 's1');
  const r = readJson(path.join(s2, 'result.json'));
  // selected on val, or a refit (`last`: the epoch count an earlier val run chose); never on test
  if (r.split !== 'test' || (r.selected_on !== 'val' && r.selected_on !== 'last'))
    throw new Error(`results-table: ${s2}/result.json is not a test result selected on val or refitted (split ${r.split}, selected on ${r.selected_on})`);
  const classes = Object.keys(r.per_class);
  const all = fromConfusion(
    r.confusion,
    classes.map((_, i) => i),
  );
  const known = classes.map((c, i) => (FACEAPI_CLASSES.includes(c) ? i : -1)).filter((i) => i >= 0);
  const stage1Seconds = fs.existsSync(path.join(s1, 'metrics.jsonl')) ? epochSeconds(s1) : 0;
  return {
    all: { ...all, accuracy: r.accuracy, meanClass: r.mean_class_accuracy },
    known7: fromConfusion(r.confusion, known),
    selectedEpoch: r.selected_epoch,
    valAccuracy: r.selection_accuracy,
    seconds: stage1Seconds + epochSeconds(s2),
    stage1Seconds,
  };
}

function baselines(dirs: string[]): Pick<Row, 'cnn' | 'faceapi'> {
  let cnn: Row['cnn'] = null;
  let faceapi: Row['faceapi'] = null;
  for (const d of dirs) {
    const b = readJson(path.join(d, 'baseline.json'));
    if (b.cnn) cnn = { accuracy: b.cnn.accuracy, meanClass: b.cnn.mean_class_accuracy, n: b.cnn.n, seconds: b.cnn.wall_seconds, epochs: b.cnn.epochs, source: d };
    if (b.faceapi) faceapi = { accuracy: b.faceapi.accuracy, meanClass: b.faceapi.mean_class_accuracy, n: b.faceapi.n, seconds: b.faceapi.wall_seconds, source: d };
  }
  return { cnn, faceapi };
}

const pct = (x: number | undefined) => (x === undefined ? '–' : `${(100 * x).toFixed(1)} %`);
const mins = (s: number) => `${Math.round(s / 60)} min`;

function markdown(rows: Row[]): string {
  const out = [
    "| data (test images) | LRDif stage 2: acc / mean-class (all 8 classes) | LRDif on face-api's 7 classes | engine CNN | face-api zero-shot (7 classes) | wall time LRDif / CNN |",
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const l = r.lrdif;
    out.push(
      `| ${r.data} (${l.all.n}) | ${pct(l.all.accuracy)} / ${pct(l.all.meanClass)} | ${pct(l.known7.accuracy)} / ${pct(l.known7.meanClass)} | ${r.cnn ? `${pct(r.cnn.accuracy)} / ${pct(r.cnn.meanClass)}` : '–'} | ${r.faceapi ? `${pct(r.faceapi.accuracy)} / ${pct(r.faceapi.meanClass)}` : '–'} | ${mins(l.seconds)} / ${r.cnn ? mins(r.cnn.seconds) : '–'} |`,
    );
  }
  return out.join('\n');
}

const args = process.argv.slice(2);
const rows: Row[] = [];
let jsonOut: string | null = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--row') {
    const spec = args[++i] ?? '';
    const eq = spec.indexOf('=');
    const [run, ...bases] = spec.slice(eq + 1).split(',');
    if (eq <= 0 || !run) throw new Error(`results-table: --row wants "NAME=<lrdif run>,<baseline dir>…", got ${JSON.stringify(spec)}`);
    rows.push({ data: spec.slice(0, eq), lrdif: lrdifRow(run), ...baselines(bases) });
  } else if (args[i] === '--json') jsonOut = args[++i];
  else throw new Error(`results-table: unknown argument ${args[i]}`);
}
if (!rows.length) throw new Error('results-table: give at least one --row');
console.log(markdown(rows));
if (jsonOut) fs.writeFileSync(jsonOut, `${JSON.stringify(rows, null, 2)}\n`);
