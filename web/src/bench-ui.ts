/** The Benchmarks tab: the kernel suites in the page, the same table as `npm run bench`. */
import { h, byId, showError, download, field } from './ui.js';
import { plainMessage } from './errors.js';
import { runBenchmarks, excludedSuiteFiles, pageSuites, type BenchResult } from './bench.js';
import type { Row } from '../../bench/harness.js';
import { hooks } from './hooks.js';

let last: BenchResult | null = null;

function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined) return '–';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3);
}

function rowEl(r: Row): HTMLElement {
  const unit = r.gflops !== undefined ? 'GF/s' : r.gbps !== undefined ? 'GB/s' : '';
  const rate = r.gflops ?? r.gbps;
  return h(
    'tr',
    {},
    h('td', {}, r.name),
    h('td', {}, r.shape),
    h('td', {}, `${fmt(r.ours_ms)} ${r.ours_metric}`),
    h('td', {}, fmt(r.ours_wall_ms)),
    h('td', {}, rate !== undefined ? `${fmt(rate)} ${unit}` : ''),
    h('td', {}, r.peer ?? '–'),
    h('td', {}, r.peer_ms === null ? (r.note && r.peer ? 'n/a' : '–') : fmt(r.peer_ms)),
    h('td', {}, r.ratio === null ? '–' : `${r.ratio.toFixed(2)}×`),
  );
}

async function run(): Promise<void> {
  const err = byId('bench-error');
  showError(err, null);
  const status = byId('bench-status');
  const tbody = byId('bench-rows');
  tbody.replaceChildren();
  byId('bench-table').textContent = '';
  byId<HTMLButtonElement>('bench-run').disabled = true;
  byId<HTMLButtonElement>('bench-json').disabled = true;
  hooks.bench = { ...hooks.bench, running: true, done: false, error: null, rows: [], table: null };
  const t0 = performance.now();
  try {
    const filters = byId<HTMLInputElement>('bench-filter')
      .value.split(/[\s,]+/)
      .filter(Boolean);
    last = await runBenchmarks(
      { filters, quick: byId<HTMLInputElement>('bench-quick').checked, peers: byId<HTMLInputElement>('bench-peers').checked },
      {
        suite: (name, description) => (status.textContent = `${name}: ${description}`),
        case: (suite, name, shape) => (status.textContent = `${suite}: timing ${name} ${shape}…`),
        row: (r) => {
          tbody.append(rowEl(r));
          hooks.bench.rows.push(r);
        },
      },
    );
    byId('bench-table').textContent = `${last.header.join('\n')}\n\n${last.table}`;
    hooks.bench.table = last.table;
    hooks.bench.done = true;
    status.textContent = `${last.rows.length} rows in ${((performance.now() - t0) / 1000).toFixed(0)} s`;
    byId<HTMLButtonElement>('bench-json').disabled = false;
  } catch (e) {
    const msg = plainMessage(e);
    showError(err, msg);
    hooks.bench.error = msg;
    status.textContent = '';
    console.error(e);
  } finally {
    hooks.bench.running = false;
    byId<HTMLButtonElement>('bench-run').disabled = false;
  }
}

export function benchTab(): HTMLElement {
  hooks.bench.excluded = excludedSuiteFiles;
  const names = h('span', { id: 'bench-suites' }, '…');
  void pageSuites().then(
    (s) => (names.textContent = s.map((x) => x.name).join(', ')),
    (e: unknown) => (names.textContent = `(could not load the suites: ${plainMessage(e)})`),
  );
  return h(
    'section',
    { id: 'tab-bench', class: 'tab' },
    h(
      'div',
      { class: 'panel' },
      h(
        'p',
        {},
        'The kernel microbenchmarks of ',
        h('code', {}, 'npm run bench'),
        ' (bench/*.bench.ts, the same harness and table) on this page’s WebGPU device. Suites here: ',
        names,
        '.',
      ),
      excludedSuiteFiles.length ? h('p', { class: 'hint' }, `Not in the page (Node only): ${excludedSuiteFiles.map((x) => `${x.file} — ${x.reason}`).join('; ')}.`) : null,
      h(
        'div',
        { class: 'row wrap' },
        field('Suites (filters)', h('input', { id: 'bench-filter', type: 'text', placeholder: 'e.g. matmul conv (empty: all)' })),
        h('label', { class: 'check' }, h('input', { id: 'bench-quick', type: 'checkbox', checked: true }), ' quick (fewer samples)'),
        h('label', { class: 'check' }, h('input', { id: 'bench-peers', type: 'checkbox' }), ' compare with tfjs-webgpu and jax-js'),
        h('button', { id: 'bench-run', onclick: () => void run() }, 'Run benchmarks'),
        h(
          'button',
          {
            id: 'bench-json',
            class: 'secondary',
            disabled: true,
            onclick: () => last && download('bench-results.json', `${JSON.stringify(last.doc, null, 2)}\n`, 'application/json'),
          },
          'Download JSON',
        ),
      ),
      h('div', { id: 'bench-error', class: 'error', hidden: true, role: 'alert' }),
      h('div', { id: 'bench-status', class: 'status' }),
      h(
        'table',
        { class: 'bench' },
        h('thead', {}, h('tr', {}, ...['name', 'shape', 'ours ms', 'wall ms', 'rate', 'peer', 'peer ms', 'ratio'].map((c) => h('th', {}, c)))),
        h('tbody', { id: 'bench-rows' }),
      ),
      h('h3', {}, 'Table (as npm run bench prints it)'),
      h('pre', { id: 'bench-table', class: 'bench-table' }),
    ),
  );
}
