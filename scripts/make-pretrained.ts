/**
 * The shipped pretrained models (assets/models/, src/pretrained/): packaging a training run into
 * one, and training them from scratch.
 *
 *   npx tsx scripts/make-pretrained.ts package udc=<stage-2 run folder> [lowlight=<folder>] [--root <dir>] [--no-readme] [--unfinished]
 *       Packages each run (its best.safetensors, run.json, result.json, metrics.jsonl): the
 *       inference-only model.safetensors and card.json, swapped into assets/models/<folder>/ only
 *       after the packaged model has given the source checkpoint's probabilities on a few
 *       images. Then prints the table of the cards' figures and writes it into README.md
 *       (between the `pretrained-table` markers), so no figure is typed by hand. --unfinished
 *       packages a run still training (its best epoch so far, no test figures) as a stand-in.
 *
 *   npx tsx scripts/make-pretrained.ts reproduce --faces <faces-real> --work <dir> [--only udc|lowlight] [--dry-run]
 *       Runs the recipe (src/pretrained/recipe.ts) for each model: lrdif synth, stage 1,
 *       stage 2, then packages the stage-2 run as above. Long: on a 2-core CPU with lavapipe
 *       the synth takes about 40 minutes per degradation and each model's two runs some hours.
 *       A finished run (its result.json) is not run again, an interrupted one is resumed
 *       (lrdif train --resume); lrdif synth itself keeps a finished copy and resumes one.
 *
 *   npx tsx scripts/make-pretrained.ts list [--readme]
 *       The shipped models and their figures (--readme: also into README.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { initNode } from '../src/node.js';
import { packageVersion } from '../src/cli/package-version.js';
import { cardsTable, cardSummary, pretrainedEntry, PRETRAINED_DIR, PRETRAINED_NAMES, type PretrainedCard, type PretrainedName } from '../src/pretrained/models.js';
import { listPretrained, packagePretrained } from '../src/pretrained/pretrained-node.js';
import { recipeRunDir, recipeSteps, shellCommand } from '../src/pretrained/recipe.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'lrdif.js');
const README = path.join(ROOT, 'README.md');
const START = '<!-- pretrained-table:start (written by scripts/make-pretrained.ts from the cards) -->';
const END = '<!-- pretrained-table:end -->';
const MODELS = path.join(ROOT, PRETRAINED_DIR);

function fail(message: string): never {
  process.stderr.write(`make-pretrained: ${message}\n`);
  process.exit(2);
}

function flag(args: string[], name: string): string | null {
  const i = args.indexOf(name);
  if (i < 0) return null;
  const v = args[i + 1];
  if (!v || v.startsWith('--')) fail(`${name} needs a value`);
  args.splice(i, 2);
  return v;
}

/** Writes the table between the README's markers (they must be there). */
function writeReadmeTable(table: string): void {
  const text = fs.readFileSync(README, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) fail(`README.md has no ${START} … ${END} block`);
  const next = `${text.slice(0, a + START.length)}\n${table}\n${text.slice(b)}`;
  const tmp = `${README}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, next);
  fs.renameSync(tmp, README);
}

async function packageRuns(pairs: Array<{ name: PretrainedName; run: string }>, root: string, readme: boolean, unfinished = false): Promise<void> {
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const ctx = await initNode();
  try {
    for (const { name, run } of pairs) {
      const r = await packagePretrained({ name, run, root, version: packageVersion(), log, unfinished });
      log(`package: ${name}: ${r.dir} (${(r.bytes / 2 ** 20).toFixed(2)} MiB): ${cardSummary(r.card)}`);
      if (!r.card.training.matchesRecipe) log(`package: ${name}: NOT the recipe's settings: ${r.card.training.differences.join('; ')}`);
    }
  } finally {
    ctx.dispose();
  }
  printTable(root, readme);
}

function printTable(root: string, readme: boolean): void {
  const listed = listPretrained(root);
  for (const l of listed) if (l.error) process.stderr.write(`${l.name}: ${l.error}\n`);
  const cards: PretrainedCard[] = listed.flatMap((l) => (l.model ? [l.model.info] : []));
  const table = cardsTable(cards);
  process.stdout.write(`${table}\n`);
  // the README describes the package's own models only
  if (readme && path.resolve(root) === MODELS) {
    writeReadmeTable(table);
    process.stderr.write('README.md: the Pretrained models table is updated\n');
  }
}

function lrdif(args: string[]): void {
  process.stderr.write(`$ ${shellCommand({ what: '', args })}\n`);
  const r = spawnSync(process.execPath, [BIN, ...args], { stdio: 'inherit', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  if (r.status !== 0) fail(`lrdif ${args[0]} failed (exit ${r.status ?? r.signal})`);
}

async function reproduce(args: string[]): Promise<void> {
  const faces = flag(args, '--faces') ?? fail('reproduce needs --faces <faces-real folder>');
  const work = path.resolve(flag(args, '--work') ?? fail('reproduce needs --work <folder>'));
  const only = flag(args, '--only');
  const dry = args.includes('--dry-run');
  const names = only ? [pretrainedEntry(only).name] : [...PRETRAINED_NAMES];
  const pairs: Array<{ name: PretrainedName; run: string }> = [];
  for (const name of names) {
    const p = { faces: path.resolve(faces), work };
    const [synth, s1, s2] = recipeSteps(name, p);
    const outOf = (s: { args: string[] }) => s.args[s.args.indexOf('--out') + 1];
    // lrdif synth leaves a finished copy as it is and resumes an interrupted one
    if (dry) process.stdout.write(`${shellCommand(synth)}\n`);
    else lrdif(synth.args);
    for (const step of [s1, s2]) {
      const out = outOf(step);
      if (dry) process.stdout.write(`${shellCommand(step)}\n`);
      else if (fs.existsSync(path.join(out, 'result.json'))) process.stderr.write(`${step.what}: done already (${out}/result.json)\n`);
      else if (fs.existsSync(path.join(out, 'run.json'))) lrdif(['train', '--resume', '--out', out, '--plain']);
      else lrdif(step.args);
    }
    pairs.push({ name, run: recipeRunDir(name, p) });
  }
  if (dry) {
    process.stdout.write(`npx tsx scripts/make-pretrained.ts package ${pairs.map((q) => `${q.name}=${q.run}`).join(' ')}\n`);
    return;
  }
  await packageRuns(pairs, MODELS, true);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const cmd = args.shift();
  if (cmd === 'package') {
    const root = flag(args, '--root');
    const readme = !args.includes('--no-readme');
    const unfinished = args.includes('--unfinished');
    const pairs = args
      .filter((a) => !a.startsWith('--'))
      .map((a) => {
        const eq = a.indexOf('=');
        if (eq < 0) fail(`give <name>=<stage-2 run folder>, got '${a}'`);
        return { name: pretrainedEntry(a.slice(0, eq)).name, run: a.slice(eq + 1) };
      });
    if (pairs.length === 0) fail('package: give udc=<run folder> and/or lowlight=<run folder>');
    await packageRuns(pairs, root ? path.resolve(root) : MODELS, readme, unfinished);
  } else if (cmd === 'reproduce') await reproduce(args);
  else if (cmd === 'list') printTable(process.env.LRDIF_PRETRAINED_DIR ? path.resolve(process.env.LRDIF_PRETRAINED_DIR) : MODELS, args.includes('--readme'));
  else
    fail(
      'usage: make-pretrained.ts package <name>=<run> … [--root <dir>] [--no-readme] [--unfinished] | reproduce --faces <dir> --work <dir> [--only <name>] [--dry-run] | list [--readme]',
    );
}

main().catch((e: unknown) => fail((e as Error).message.replace(/^lrdif: /, '')));
