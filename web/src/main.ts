/** The lrdif web app: inference, training, benchmarks and the self-test on the page's WebGPU device. */
import './style.css';
import { hooks } from './hooks.js';
import { h, byId } from './ui.js';
import { pageDevice } from './gpu.js';
import { plainMessage } from './errors.js';
import { inferenceTab } from './infer-ui.js';
import { trainingTab, showTraining } from './train-ui.js';
import { benchTab } from './bench-ui.js';
import { selftestTab } from './selftest-ui.js';

const TABS = [
  { id: 'inference', label: 'Inference', make: inferenceTab },
  { id: 'training', label: 'Training', make: trainingTab },
  { id: 'bench', label: 'Benchmarks', make: benchTab },
  { id: 'selftest', label: 'Self-test', make: selftestTab },
] as const;

function route(): void {
  const want = location.hash.replace(/^#/, '') || 'inference';
  const id = TABS.some((t) => t.id === want) ? want : 'inference';
  for (const t of TABS) {
    byId(`tab-${t.id}`).hidden = t.id !== id;
    byId(`nav-${t.id}`).classList.toggle('active', t.id === id);
  }
  if (id === 'training') showTraining();
}

async function main(): Promise<void> {
  const app = byId('app');
  const device = h('span', { id: 'device', class: 'device' }, 'starting WebGPU…');
  app.replaceChildren(
    h('header', {}, h('h1', {}, 'lrdif'), h('span', { class: 'tagline' }, 'facial expression recognition through an under-display camera or in low light, on WebGPU'), device),
    h('nav', {}, ...TABS.map((t) => h('a', { id: `nav-${t.id}`, href: `#${t.id}` }, t.label))),
    h('div', { id: 'fatal', class: 'error fatal', hidden: true, role: 'alert' }),
    h('main', {}, ...TABS.map((t) => t.make())),
  );
  window.addEventListener('hashchange', route);
  route();
  try {
    const ctx = await pageDevice();
    device.textContent = `WebGPU: ${ctx.adapter.summary}`;
    hooks.device = { ready: true, adapter: ctx.adapter.summary, error: null };
  } catch (e) {
    const msg = plainMessage(e);
    device.textContent = 'no WebGPU';
    device.classList.add('bad');
    const fatal = byId('fatal');
    fatal.textContent = msg;
    fatal.hidden = false;
    for (const b of document.querySelectorAll<HTMLButtonElement>('main button')) b.disabled = true;
    for (const el of document.querySelectorAll<HTMLInputElement>('main input')) el.disabled = true;
    hooks.device = { ready: false, adapter: null, error: msg };
  }
}

void main();
