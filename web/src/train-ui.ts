/** The Training tab: settings, generated faces, a live loss / accuracy chart, checkpoints to download. */
import { h, byId, showError, imageCanvas, download, fmtBytes, field } from './ui.js';
import { drawChart, type Series } from './chart.js';
import { PageError, plainMessage } from './errors.js';
import { epochEval } from '../../src/train/trainer.js';
import { trainInPage, previewFaces, DEFAULT_TRAIN_OPTIONS, TrainingStopped, type PageTrainOptions, type PageTrainResult } from './train.js';
import { hooks } from './hooks.js';
import { useTrained } from './infer-ui.js';
import type { DegradationKind } from '../../src/data/degrade/index.js';

let stopRequested = false;
let result: PageTrainResult | null = null;
let redraw: number | null = null;

const lossS1: Array<[number, number]> = [];
const lossS2: Array<[number, number]> = [];
const ceS2: Array<[number, number]> = [];
const accTrain: Array<[number, number]> = [];
const accTest: Array<[number, number]> = [];
let stage2Start: number | null = null;
let stepCount = 0;
let epochSteps: number[] = [];

function num(id: string): number {
  const v = byId<HTMLInputElement>(id).value.trim();
  return v === '' ? NaN : Number(v);
}

function readOptions(): PageTrainOptions {
  return {
    images: num('tr-images'),
    testFraction: num('tr-test'),
    dataSeed: num('tr-data-seed'),
    clipSeed: num('tr-clip-seed'),
    degrade: byId<HTMLSelectElement>('tr-degrade').value as DegradationKind | 'none',
    stage1Epochs: num('tr-e1'),
    stage2Epochs: num('tr-e2'),
    batch: num('tr-batch'),
    lr: num('tr-lr'),
    seed: num('tr-seed'),
    augment: byId<HTMLInputElement>('tr-augment').checked,
  };
}

function scheduleChart(): void {
  if (redraw !== null) return;
  redraw = requestAnimationFrame(() => {
    redraw = null;
    const markers = stage2Start !== null ? [{ x: stage2Start, label: 'stage 2' }] : [];
    const loss: Series[] = [{ name: 'stage 1 (CE)', color: '#0074d9', points: lossS1 }];
    if (lossS2.length) loss.push({ name: 'stage 2 (CE + KL)', color: '#b10dc9', points: lossS2 }, { name: 'stage 2 CE', color: '#39cccc', points: ceS2 });
    drawChart(byId<HTMLCanvasElement>('chart-loss'), loss, { title: 'training loss per step (log scale)', xLabel: 'step', logY: true, markers });
    drawChart(
      byId<HTMLCanvasElement>('chart-acc'),
      [
        { name: 'train (epoch so far)', color: '#2ecc40', points: accTrain },
        { name: 'test (end of epoch)', color: '#ff851b', points: accTest, dots: true },
      ],
      { title: 'accuracy', xLabel: 'step', yMin: 0, yMax: 1, markers },
    );
  });
}

function resetChart(): void {
  for (const a of [lossS1, lossS2, ceS2, accTrain, accTest]) a.length = 0;
  stage2Start = null;
  stepCount = 0;
  epochSteps = [];
  scheduleChart();
}

function downloads(r: PageTrainResult): HTMLElement {
  const b = (label: string, name: string, bytes: Uint8Array | string, id: string) =>
    h(
      'button',
      { id, class: 'secondary', onclick: () => download(name, bytes, typeof bytes === 'string' ? 'application/json' : 'application/octet-stream') },
      `${label} (${fmtBytes(typeof bytes === 'string' ? bytes.length : bytes.byteLength)})`,
    );
  const items: HTMLElement[] = [];
  const s2 = r.stage2;
  if (s2?.store.checkpoints.get('best')) items.push(b('Stage-2 checkpoint, best epoch', s2.store.checkpointPath('best'), s2.store.checkpoints.get('best')!, 'dl-stage2-best'));
  if (s2?.store.checkpoints.get('last')) items.push(b('Stage-2 checkpoint, last epoch', s2.store.checkpointPath('last'), s2.store.checkpoints.get('last')!, 'dl-stage2-last'));
  if (r.stage1.store.checkpoints.get('best'))
    items.push(b('Stage-1 checkpoint, best epoch', r.stage1.store.checkpointPath('best'), r.stage1.store.checkpoints.get('best')!, 'dl-stage1-best'));
  items.push(b('CLIP model.safetensors', 'model.safetensors', r.clip.weights, 'dl-clip-weights'));
  items.push(b('CLIP config.json', 'config.json', r.clip.config, 'dl-clip-config'));
  const best = s2?.store.checkpoints.get('best');
  return h(
    'div',
    { class: 'downloads' },
    h('div', { class: 'row wrap' }, ...items),
    best
      ? h(
          'button',
          {
            id: 'use-in-inference',
            onclick: async () => {
              location.hash = '#inference';
              await useTrained(
                { name: s2!.store.checkpointPath('best'), bytes: best },
                { name: 'model.safetensors', bytes: r.clip.weights },
                { name: 'config.json', text: r.clip.config },
              );
            },
          },
          'Use the stage-2 model in Inference',
        )
      : null,
    h(
      'p',
      { class: 'hint' },
      `The checkpoints record their CLIP as ${r.clip.record.kind === 'file' ? r.clip.record.path : 'the tiny random CLIP'} (sha256 ${r.clip.record.hash.slice(0, 12)}…): keep model.safetensors and config.json together in a folder ${r.clip.folder}/ to use them elsewhere, e.g. in Node.`,
    ),
  );
}

async function start(): Promise<void> {
  const err = byId('train-error');
  showError(err, null);
  hooks.training = { running: true, done: false, error: null, phase: '', steps: [], epochs: [], evals: {}, seconds: null };
  stopRequested = false;
  result?.clipModel.dispose();
  result = null;
  resetChart();
  byId('train-downloads').replaceChildren();
  byId('epoch-rows').replaceChildren();
  byId<HTMLButtonElement>('train-start').disabled = true;
  byId<HTMLButtonElement>('train-stop').disabled = false;
  const phase = byId('train-phase');
  try {
    const o = readOptions();
    const r = await trainInPage(o, {
      phase: (t) => {
        phase.textContent = t;
        hooks.training.phase = t;
      },
      dataset: (ds) => {
        const faces = previewFaces(ds, 2);
        byId('train-preview').replaceChildren(
          ...faces.map((f) => h('figure', { class: 'thumb' }, imageCanvas(f.image), h('figcaption', {}, f.label))),
          h(
            'p',
            { class: 'hint' },
            `${ds.length} faces: ${ds.items.filter((i) => i.split === 'train').length} for training, ${ds.items.filter((i) => i.split === 'test').length} for testing`,
          ),
        );
      },
      step: (stage, s) => {
        stepCount++;
        if (stage === 2 && stage2Start === null) stage2Start = stepCount;
        (stage === 1 ? lossS1 : lossS2).push([stepCount, s.loss]);
        if (stage === 2) ceS2.push([stepCount, s.ce]);
        epochSteps.push(s.accuracy * s.images, s.images);
        let ok = 0;
        let n = 0;
        for (let i = 0; i < epochSteps.length; i += 2) {
          ok += epochSteps[i];
          n += epochSteps[i + 1];
        }
        accTrain.push([stepCount, ok / n]);
        hooks.training.steps.push({ stage, epoch: s.epoch, step: s.step, loss: s.loss, accuracy: s.accuracy });
        phase.textContent = `stage ${stage}: epoch ${s.epoch}/${s.epochs}, batch ${s.batch}/${s.batches} · loss ${s.loss.toFixed(4)} · ${s.imagesPerSecond.toFixed(1)} images/s`;
        scheduleChart();
      },
      epoch: (stage, e) => {
        const ev = epochEval(e);
        epochSteps = [];
        accTest.push([stepCount, ev.report.accuracy]);
        hooks.training.epochs.push({ stage, epoch: e.epoch, trainLoss: e.trainLoss, trainAccuracy: e.trainAccuracy, testAccuracy: ev.report.accuracy, seconds: e.seconds });
        hooks.training.evals[String(stage) as '1' | '2'] = { probabilities: Array.from(ev.probabilities), labels: Array.from(ev.labels), local: ev.local };
        byId('epoch-rows').append(
          h(
            'tr',
            {},
            h('td', {}, stage),
            h('td', {}, e.epoch),
            h('td', {}, e.trainLoss.toFixed(4)),
            h('td', {}, `${(100 * e.trainAccuracy).toFixed(1)} %`),
            h('td', {}, `${(100 * ev.report.accuracy).toFixed(1)} %${e.improved ? ' ★' : ''}`),
            h('td', {}, `${e.seconds.toFixed(1)} s`),
          ),
        );
        scheduleChart();
      },
      stopRequested: () => stopRequested,
    });
    result = r;
    hooks.training.seconds = r.seconds;
    phase.textContent = r.stopped ? `stopped after ${r.seconds.toFixed(0)} s; the checkpoints are those of the finished epochs` : `done in ${r.seconds.toFixed(0)} s`;
    byId('train-downloads').replaceChildren(downloads(r));
    hooks.training.done = true;
  } catch (e) {
    const msg = e instanceof TrainingStopped ? 'Stopped before the first epoch ended: no checkpoint was written.' : plainMessage(e);
    showError(err, msg);
    hooks.training.error = msg;
    phase.textContent = '';
    if (!(e instanceof PageError) && !(e instanceof TrainingStopped)) console.error(e);
  } finally {
    hooks.training.running = false;
    byId<HTMLButtonElement>('train-start').disabled = false;
    byId<HTMLButtonElement>('train-stop').disabled = true;
  }
}

export function trainingTab(): HTMLElement {
  const d = DEFAULT_TRAIN_OPTIONS;
  const n = (id: string, value: number, attrs: Record<string, string | number> = {}) => h('input', { id, type: 'number', value, ...attrs });
  return h(
    'section',
    { id: 'tab-training', class: 'tab' },
    h(
      'div',
      { class: 'columns' },
      h(
        'div',
        { class: 'panel controls' },
        h('h2', {}, 'Data'),
        h('p', { class: 'hint' }, 'Procedural faces with the seven basic expressions, drawn in this page (class = index mod 7).'),
        field('Images', n('tr-images', d.images, { min: 14, step: 7 })),
        field('Test fraction', n('tr-test', d.testFraction, { min: 0.05, max: 0.95, step: 0.05 })),
        field('Data seed', n('tr-data-seed', d.dataSeed, { min: 0, step: 1 })),
        field(
          'Degradation on the fly',
          h(
            'select',
            { id: 'tr-degrade' },
            h('option', { value: 'udc', selected: d.degrade === 'udc' }, 'under-display camera (LRDif)'),
            h('option', { value: 'lowlight', selected: d.degrade === 'lowlight' }, 'low light (LLDif)'),
            h('option', { value: 'none', selected: d.degrade === 'none' }, 'none'),
          ),
        ),
        h('label', { class: 'check' }, h('input', { id: 'tr-augment', type: 'checkbox', checked: d.augment }), ' random flips and erasing'),
        h('h2', {}, 'Model'),
        h('p', { class: 'hint' }, "The tiny config (361,903 parameters) with the tiny random CLIP (P = 32) and face-api's landmark extractor, both frozen."),
        field('CLIP seed', n('tr-clip-seed', d.clipSeed, { min: 0, step: 1 })),
        field('Stage-1 epochs', n('tr-e1', d.stage1Epochs, { min: 1, step: 1 })),
        field('Stage-2 epochs', n('tr-e2', d.stage2Epochs, { min: 0, step: 1 })),
        field('Batch size', n('tr-batch', d.batch, { min: 1, step: 1 })),
        field('Learning rate', n('tr-lr', d.lr, { min: 0.00001, step: 0.0001 })),
        field('Seed', n('tr-seed', d.seed, { min: 0, step: 1 })),
        h(
          'div',
          { class: 'row' },
          h('button', { id: 'train-start', onclick: () => void start() }, 'Generate faces and train'),
          h('button', { id: 'train-stop', class: 'secondary', disabled: true, onclick: () => (stopRequested = true) }, 'Stop'),
        ),
      ),
      h(
        'div',
        { class: 'panel results' },
        h('div', { id: 'train-error', class: 'error', hidden: true, role: 'alert' }),
        h('div', { id: 'train-phase', class: 'status' }, 'Set the run up on the left and start it.'),
        h('div', { id: 'train-preview', class: 'preview' }),
        h('canvas', { id: 'chart-loss', class: 'chart' }),
        h('canvas', { id: 'chart-acc', class: 'chart' }),
        h(
          'table',
          { class: 'epochs' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'stage'),
              h('th', {}, 'epoch'),
              h('th', {}, 'train loss'),
              h('th', {}, 'train acc.'),
              h(
                'th',
                {
                  title:
                    "The best epoch (★) is chosen on these test figures, as in the paper's protocol: they are optimistic. `lrdif train` chooses on a validation split and tests once.",
                },
                'test acc. (selects ★)',
              ),
              h('th', {}, 'time'),
            ),
          ),
          h('tbody', { id: 'epoch-rows' }),
          h(
            'caption',
            { class: 'hint' },
            "★ the best epoch, chosen on the test split (the paper's protocol: optimistic figures; the page's few faces leave no room for a validation split).",
          ),
        ),
        h('div', { id: 'train-downloads' }),
      ),
    ),
  );
}

/** Draws the (empty) charts once the tab is visible. */
export function showTraining(): void {
  scheduleChart();
}
