/**
 * The Inference tab: the model (a shipped pretrained one by default, or the user's checkpoint and
 * CLIP), photo or webcam, simulation, faces with class probabilities.
 */
import { decodeImageBrowser } from '../../src/io/image-browser.js';
import { rgbaToRgb, type RgbImage } from '../../src/io/image.js';
import { h, byId, showError, drawImage, imageCanvas, fmtMs, field, nextFrame } from './ui.js';
import { PageError, plainMessage } from './errors.js';
import { InferenceSession, loadCheckpoint, loadClipFor, inferPhoto, DEFAULT_INFER_OPTIONS, type FileBytes, type InferOptions, type InferResult } from './infer.js';
import type { DegradationKind } from '../../src/data/degrade/index.js';
import { hooks } from './hooks.js';
import { loadShippedModel } from './assets.js';
import { DEFAULT_PRETRAINED, PRETRAINED_MODELS, PRETRAINED_NAMES, type PretrainedCard } from '../../src/pretrained/models.js';
import { engine } from '../../src/autograd/engine.js';

let session: InferenceSession | null = null;
let photo: RgbImage | null = null;
let webcam: { stop: () => void } | null = null;
let busy = false;

const els = {
  get error() {
    return byId('infer-error');
  },
  get status() {
    return byId('infer-status');
  },
};

async function fileBytes(f: File): Promise<FileBytes> {
  return { name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) };
}

async function urlBytes(url: string): Promise<FileBytes> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new PageError(`could not fetch ${url}: ${plainMessage(e)}`);
  }
  if (!res.ok) throw new PageError(`could not fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  const name = decodeURIComponent(new URL(url, location.href).pathname.split('/').pop() || url);
  return { name, bytes: new Uint8Array(await res.arrayBuffer()) };
}

function setStatus(text: string): void {
  els.status.textContent = text;
}

/** Loads the checkpoint and CLIP the user chose (files or URLs), else the shipped model selected. */
async function loadModels(): Promise<void> {
  const ckFile = byId<HTMLInputElement>('ck-file').files?.[0];
  const ckUrl = byId<HTMLInputElement>('ck-url').value.trim();
  const clipFiles = [...(byId<HTMLInputElement>('clip-files').files ?? [])];
  const clipUrl = byId<HTMLInputElement>('clip-url').value.trim();
  const clipConfigUrl = byId<HTMLInputElement>('clip-config-url').value.trim();
  if (!ckFile && !ckUrl) {
    const name = byId<HTMLSelectElement>('model-choice').value;
    setStatus(`loading the shipped model '${name}'…`);
    const m = await loadShippedModel(name);
    await openSession({ name: m.name, bytes: m.bytes }, null, null, m.card);
    return;
  }
  setStatus('reading the checkpoint…');
  const ck = ckFile ? await fileBytes(ckFile) : await urlBytes(ckUrl);
  let weights: FileBytes | null = null;
  let config: { name: string; text: string } | null = null;
  if (clipFiles.length) {
    const w = clipFiles.filter((f) => !f.name.toLowerCase().endsWith('.json'));
    const c = clipFiles.filter((f) => f.name.toLowerCase().endsWith('.json'));
    if (w.length !== 1 || c.length > 1) throw new PageError('Under CLIP, pick one weights file (.safetensors) and, optionally, its config.json.');
    weights = await fileBytes(w[0]);
    if (c.length) config = { name: c[0].name, text: await c[0].text() };
  } else if (clipUrl) {
    weights = await urlBytes(clipUrl);
    if (clipConfigUrl) {
      const b = await urlBytes(clipConfigUrl);
      config = { name: b.name, text: new TextDecoder().decode(b.bytes) };
    }
  }
  await openSession(ck, weights, config);
}

/** Replaces the session with one for these files (the current one stays if they fail to load); `shipped`: the card of a shipped model. */
export async function openSession(ck: FileBytes, weights: FileBytes | null, config: { name: string; text: string } | null, shipped: PretrainedCard | null = null): Promise<void> {
  setStatus('checking the checkpoint…');
  const checkpoint = loadCheckpoint(ck);
  let next: InferenceSession;
  try {
    setStatus('loading the CLIP…');
    const clip = await loadClipFor(checkpoint.meta, weights, config);
    try {
      setStatus("loading face-api's detector and landmark nets…");
      next = await InferenceSession.open(checkpoint, clip);
    } catch (e) {
      clip.clip.dispose();
      throw e;
    }
  } catch (e) {
    checkpoint.model.dispose();
    throw e;
  }
  stopWebcam();
  session?.dispose();
  session = next;
  const m = session.checkpoint.meta;
  const c = m.config;
  const name = c.variant === 'lowlight' ? 'LLDif' : 'LRDif';
  const info: HTMLElement[] = [
    ...(shipped
      ? [
          h(
            'div',
            {},
            h('b', {}, `Shipped model '${shipped.name}': ${shipped.title}`),
            shipped.results.test
              ? ` — test accuracy ${(100 * shipped.results.test.accuracy).toFixed(1)} %, mean per-class ${(100 * shipped.results.test.mean_class_accuracy).toFixed(1)} % on ${shipped.results.test.n} faces (its card.json)`
              : ` — ${shipped.results.unfinished ?? 'no test figures'}`,
          ),
        ]
      : []),
    h(
      'div',
      {},
      h('b', {}, ck.name),
      ` — stage-${m.stage} ${name}, ${c.numClasses} classes, ${c.imageSize}² input, T = ${c.timesteps}, trained ${m.epoch} epochs (${m.step} steps)`,
    ),
    h('div', {}, `CLIP: ${session.clip.source}${c.imageEncoder === 'clip' ? ` (P = ${c.clipDim})` : ''}`),
  ];
  if (session.clip.warning) info.push(h('div', { class: 'warning' }, session.clip.warning));
  byId('model-info').replaceChildren(...info);
  hooks.inference.warning = session.clip.warning;
  hooks.inference.model = shipped ? shipped.name : ck.name;
  hooks.inference.ready = true;
  setStatus('ready: pick a photo or start the webcam');
  updateButtons();
}

function readOptions(): InferOptions {
  const kind = byId<HTMLSelectElement>('sim-kind').value as DegradationKind | 'none';
  const strength = Number(byId<HTMLInputElement>('sim-strength').value);
  const seed = Number(byId<HTMLInputElement>('sim-seed').value);
  if (!Number.isInteger(seed) || seed < 0) throw new PageError(`The noise seed must be a whole number ≥ 0, got ${byId<HTMLInputElement>('sim-seed').value}`);
  const threshold = Number(byId<HTMLInputElement>('det-threshold').value);
  if (!(threshold > 0 && threshold < 1)) throw new PageError(`The detection threshold must be between 0 and 1, got ${byId<HTMLInputElement>('det-threshold').value}`);
  const maxSide = Number(byId<HTMLInputElement>('max-side').value);
  if (!Number.isInteger(maxSide) || maxSide < 0) throw new PageError(`The largest side must be a whole number of pixels (0: keep the photo's size)`);
  return {
    ...DEFAULT_INFER_OPTIONS,
    degrade: kind === 'none' ? null : { kind, strength, seed },
    detect: byId<HTMLInputElement>('det-on').checked,
    scoreThreshold: threshold,
    maxSide,
  };
}

function render(r: InferResult): void {
  const canvas = byId<HTMLCanvasElement>('result-canvas');
  const g = drawImage(canvas, r.image);
  const lw = Math.max(2, Math.round(Math.max(r.image.width, r.image.height) / 300));
  g.lineWidth = lw;
  g.font = `${Math.max(12, lw * 7)}px system-ui, sans-serif`;
  r.faces.forEach((f, i) => {
    if (!f.box) return;
    g.strokeStyle = '#2ecc40';
    g.strokeRect(f.box.x, f.box.y, f.box.width, f.box.height);
    g.fillStyle = '#ff4136';
    for (const p of f.landmarks ?? []) {
      g.beginPath();
      g.arc(p.x, p.y, lw * 0.8, 0, 2 * Math.PI);
      g.fill();
    }
    const label = `${i + 1}: ${f.top}`;
    const tw = g.measureText(label).width;
    const th = lw * 9;
    g.fillStyle = 'rgba(0,0,0,0.65)';
    g.fillRect(f.box.x, Math.max(0, f.box.y - th), tw + 2 * lw, th);
    g.fillStyle = '#fff';
    g.fillText(label, f.box.x + lw, Math.max(th, f.box.y) - lw * 2);
  });
  const list = byId('faces');
  if (r.faces.length === 0) {
    list.replaceChildren(h('p', { class: 'note' }, 'No face found in this photo. Lower the detection threshold, or turn face detection off to use the photo as one face crop.'));
  } else {
    list.replaceChildren(
      ...r.faces.map((f, i) => {
        const best = f.probabilities.indexOf(Math.max(...f.probabilities));
        return h(
          'div',
          { class: 'face-card' },
          h(
            'div',
            { class: 'face-head' },
            imageCanvas(f.face, 'face-thumb'),
            h(
              'div',
              {},
              h('div', { class: 'face-title' }, `Face ${i + 1}: ${f.top}`),
              f.score !== null ? h('div', { class: 'hint' }, `detector score ${f.score.toFixed(3)}`) : h('div', { class: 'hint' }, 'whole photo (no detection)'),
            ),
          ),
          h(
            'div',
            { class: 'bars' },
            ...r.classNames.map((c, k) =>
              h(
                'div',
                { class: `bar${k === best ? ' best' : ''}` },
                h('span', { class: 'bar-label' }, c),
                h('span', { class: 'bar-track' }, h('span', { class: 'bar-fill', style: `width: ${(100 * f.probabilities[k]).toFixed(1)}%` })),
                h('span', { class: 'bar-value' }, f.probabilities[k].toFixed(3)),
              ),
            ),
          ),
        );
      }),
    );
  }
  byId('timings').replaceChildren(
    h(
      'table',
      { class: 'timings' },
      h('thead', {}, h('tr', {}, h('th', {}, 'part'), h('th', {}, 'latency'))),
      h(
        'tbody',
        {},
        ...r.timings.map((t) => h('tr', {}, h('td', {}, t.part), h('td', {}, fmtMs(t.ms)))),
        h('tr', { class: 'total' }, h('td', {}, 'total'), h('td', {}, fmtMs(r.totalMs))),
      ),
    ),
  );
  const d = r.degrade;
  byId('result-caption').textContent =
    `${r.image.width}×${r.image.height}${r.scaled ? ' (scaled down)' : ''}` +
    (d ? ` · ${d.kind === 'udc' ? 'under-display camera' : 'low light'} at strength ${d.strength.toFixed(2)} (seed ${d.seed})` : ' · no simulation') +
    ` · ${r.faces.length} face${r.faces.length === 1 ? '' : 's'}`;
  (globalThis as unknown as { lrdifPageImage: RgbImage }).lrdifPageImage = r.image;
  hooks.inference.runs++;
  hooks.inference.last = {
    width: r.image.width,
    height: r.image.height,
    degrade: r.degrade,
    classNames: r.classNames,
    faces: r.faces.map((f) => ({ score: f.score, box: f.box, probabilities: f.probabilities, top: f.top })),
    timings: r.timings,
    totalMs: r.totalMs,
    gpuLiveBytes: engine.ctx.stats().liveBytes,
  };
}

/** The selected model, loaded when none is yet (the shipped one by default). */
async function ensureSession(): Promise<void> {
  if (session) return;
  try {
    await loadModels();
  } finally {
    hooks.inference.loads++;
  }
}

async function runPhoto(): Promise<void> {
  await ensureSession();
  if (!session) throw new PageError('Load a model first.');
  if (!photo) throw new PageError('Pick a photo first.');
  setStatus('running…');
  const r = await inferPhoto(session, photo, readOptions());
  render(r);
  setStatus(`done in ${fmtMs(r.totalMs)}`);
}

function grab(video: HTMLVideoElement): RgbImage {
  const w = video.videoWidth;
  const hgt = video.videoHeight;
  const c = new OffscreenCanvas(w, hgt);
  const g = c.getContext('2d')!;
  g.drawImage(video, 0, 0);
  return rgbaToRgb(g.getImageData(0, 0, w, hgt).data, w, hgt);
}

async function startWebcam(): Promise<void> {
  await ensureSession();
  if (!session) throw new PageError('Load a model first.');
  if (!navigator.mediaDevices?.getUserMedia) throw new PageError('This browser gives the page no camera access (navigator.mediaDevices is missing; it needs https or localhost).');
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (e) {
    throw new PageError(`The page could not open a camera (${(e as Error).name}: ${(e as Error).message}). Allow camera access, or use a photo.`);
  }
  const video = byId<HTMLVideoElement>('webcam-video');
  video.srcObject = stream;
  await video.play();
  let running = true;
  webcam = {
    stop: () => {
      running = false;
      for (const t of stream.getTracks()) t.stop();
      video.srcObject = null;
      webcam = null;
      hooks.inference.webcam = false;
      updateButtons();
    },
  };
  hooks.inference.webcam = true;
  updateButtons();
  let frame = 0;
  let last = performance.now();
  while (running && session) {
    if (video.videoWidth === 0) {
      await nextFrame();
      continue;
    }
    const opts = readOptions();
    if (opts.degrade) opts.degrade = { ...opts.degrade, seed: opts.degrade.seed + frame };
    const r = await inferPhoto(session, grab(video), opts);
    if (!running) break;
    render(r);
    frame++;
    hooks.inference.webcamFrames = frame;
    const now = performance.now();
    setStatus(`webcam: frame ${frame}, ${(1000 / (now - last)).toFixed(2)} frames/s`);
    last = now;
    await nextFrame();
  }
}

function stopWebcam(): void {
  webcam?.stop();
}

function updateButtons(): void {
  // without a session, running loads the selected model first
  byId<HTMLButtonElement>('run-photo').disabled = busy || !photo || !!webcam;
  byId<HTMLButtonElement>('webcam-start').disabled = busy || !!webcam;
  byId<HTMLButtonElement>('webcam-stop').disabled = !webcam;
  byId<HTMLButtonElement>('load-models').disabled = busy;
}

/** Runs an action with the error box and the busy state handled. */
async function act(fn: () => Promise<void>): Promise<void> {
  showError(els.error, null);
  hooks.inference.error = null;
  busy = true;
  updateButtons();
  try {
    await fn();
  } catch (e) {
    const msg = plainMessage(e);
    showError(els.error, msg);
    hooks.inference.error = msg;
    setStatus('');
    if (!(e instanceof PageError)) console.error(e);
  } finally {
    busy = false;
    updateButtons();
  }
}

export function inferenceTab(): HTMLElement {
  const strength = h('input', { id: 'sim-strength', type: 'range', min: 0, max: 1, step: 0.05, value: 0.5 });
  const strengthValue = h('output', { id: 'sim-strength-value' }, '0.50');
  strength.addEventListener('input', () => (strengthValue.textContent = Number(strength.value).toFixed(2)));
  const tab = h(
    'section',
    { id: 'tab-inference', class: 'tab' },
    h(
      'div',
      { class: 'columns' },
      h(
        'div',
        { class: 'panel controls' },
        h('h2', {}, 'Model'),
        field(
          'Shipped model',
          h(
            'select',
            { id: 'model-choice' },
            ...PRETRAINED_NAMES.map((n) =>
              h('option', { value: n, ...(n === DEFAULT_PRETRAINED ? { selected: true } : {}) }, `${PRETRAINED_MODELS[n].title}${n === DEFAULT_PRETRAINED ? ' (default)' : ''}`),
            ),
          ),
          'pretrained, ready to use; loads with the first photo. Your own checkpoint below replaces it.',
        ),
        field('Your stage-2 checkpoint', h('input', { id: 'ck-file', type: 'file', accept: '.safetensors' }), 'an lrdif checkpoint (.safetensors), or its URL:'),
        h('input', { id: 'ck-url', type: 'url', placeholder: 'https://…/best.safetensors' }),
        field(
          'CLIP',
          h('input', { id: 'clip-files', type: 'file', accept: '.safetensors,.json', multiple: true }),
          'model.safetensors and its config.json; or URLs; empty: the tiny random CLIP the checkpoint records',
        ),
        h('input', { id: 'clip-url', type: 'url', placeholder: 'weights URL (model.safetensors)' }),
        h('input', { id: 'clip-config-url', type: 'url', placeholder: 'config.json URL (optional)' }),
        h(
          'button',
          {
            id: 'load-models',
            onclick: () =>
              act(async () => {
                try {
                  await loadModels();
                } finally {
                  hooks.inference.loads++;
                }
              }),
          },
          'Load model',
        ),
        h('div', { id: 'model-info', class: 'info' }),
        h('h2', {}, 'Input'),
        field(
          'Photo',
          h('input', {
            id: 'photo-file',
            type: 'file',
            accept: 'image/*',
            onchange: (ev: Event) =>
              act(async () => {
                const f = (ev.target as HTMLInputElement).files?.[0];
                if (!f) return;
                photo = await decodeImageBrowser(f, f.name);
                hooks.inference.photo = { name: f.name, width: photo.width, height: photo.height };
                setStatus(`${f.name}: ${photo.width}×${photo.height}`);
                await runPhoto();
              }),
          }),
        ),
        h('div', { class: 'row' }, h('button', { id: 'run-photo', onclick: () => act(runPhoto) }, 'Run on the photo')),
        h(
          'div',
          { class: 'row' },
          h('button', { id: 'webcam-start', onclick: () => act(startWebcam) }, 'Start webcam'),
          h('button', { id: 'webcam-stop', onclick: () => stopWebcam() }, 'Stop'),
        ),
        h('video', { id: 'webcam-video', muted: true, playsinline: true, hidden: true }),
        h('h2', {}, 'Camera simulation'),
        field(
          'Degradation',
          h(
            'select',
            { id: 'sim-kind' },
            h('option', { value: 'none' }, 'none'),
            h('option', { value: 'udc' }, 'under-display camera (UDC)'),
            h('option', { value: 'lowlight' }, 'low light'),
          ),
        ),
        field('Strength', h('span', { class: 'row' }, strength, strengthValue), '0 mild · 1 severe'),
        field('Noise seed', h('input', { id: 'sim-seed', type: 'number', min: 0, step: 1, value: 0 })),
        h('h2', {}, 'Faces'),
        h('label', { class: 'check' }, h('input', { id: 'det-on', type: 'checkbox', checked: true }), ' detect and align faces (off: the photo is one face crop)'),
        field('Detection threshold', h('input', { id: 'det-threshold', type: 'number', min: 0.05, max: 0.95, step: 0.05, value: 0.5 })),
        field('Largest side (px)', h('input', { id: 'max-side', type: 'number', min: 0, step: 1, value: 960 }), 'larger photos are scaled down first; 0 keeps them'),
      ),
      h(
        'div',
        { class: 'panel results' },
        h('div', { id: 'infer-error', class: 'error', hidden: true, role: 'alert' }),
        h('div', { id: 'infer-status', class: 'status' }, 'Pick a photo or start the webcam: the shipped model loads with it (or load another model first).'),
        h('figure', {}, h('canvas', { id: 'result-canvas', class: 'result-canvas', width: 1, height: 1 }), h('figcaption', { id: 'result-caption' })),
        h('div', { id: 'faces', class: 'faces' }),
        h('h3', {}, 'Latency'),
        h('div', { id: 'timings' }),
      ),
    ),
  );
  queueMicrotask(updateButtons);
  return tab;
}

/** Opens a session from the training tab's result. */
export function useTrained(ck: FileBytes, clipWeights: FileBytes, clipConfig: { name: string; text: string }): Promise<void> {
  return act(async () => {
    try {
      await openSession(ck, clipWeights, clipConfig);
    } finally {
      hooks.inference.loads++;
    }
  });
}
