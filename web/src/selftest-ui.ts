/**
 * The Self-test tab: `lrdif selftest` in the page (src/selftest, the same checks as in Node) on
 * the page's WebGPU device — every op forward and backward against the float64 references the
 * tests use, every kernel variant the adapter can run, the tiny LRDif training runs and its
 * inference against PyTorch's golden values — as a table, with the JSON report to download.
 */
import { h, byId, showError, download, field } from './ui.js';
import { plainMessage } from './errors.js';
import { hooks } from './hooks.js';
import { pageDevice } from './gpu.js';
import { runSelftest, adapterReport, formatDevice, formatSummary, type CheckResult, type LrdifGoldenFixture, type SelftestReport } from '../../src/selftest/index.js';

let last: SelftestReport | null = null;

function fmtNum(v: number | null): string {
  if (v === null) return '–';
  if (v === 0) return '0';
  return Math.abs(v) >= 0.01 && Math.abs(v) < 1000 ? v.toPrecision(3) : v.toExponential(1);
}

function rowEl(r: CheckResult): HTMLElement {
  return h(
    'tr',
    { class: `st-${r.status}`, title: r.detail ?? '' },
    h('td', {}, r.op),
    h('td', {}, r.kind),
    h('td', {}, r.shapes),
    h('td', {}, r.variant),
    h('td', {}, fmtNum(r.maxError)),
    h('td', {}, r.tolerance),
    h('td', {}, r.status),
    h('td', {}, r.status === 'skip' ? '–' : r.ms.toFixed(0)),
  );
}

/** The golden fixture of the LRDif model, fetched with the page's code only when a run needs it. */
async function goldenFixture(): Promise<LrdifGoldenFixture> {
  const mod = (await import('../../test/golden/fixtures/lrdif.json')) as unknown as { default: LrdifGoldenFixture };
  return mod.default;
}

async function run(): Promise<void> {
  const err = byId('st-error');
  showError(err, null);
  const status = byId('st-status');
  const tbody = byId('st-rows');
  tbody.replaceChildren();
  byId('st-summary').textContent = '';
  byId<HTMLButtonElement>('st-run').disabled = true;
  byId<HTMLButtonElement>('st-json').disabled = true;
  hooks.selftest = { running: true, done: false, error: null, results: [], summary: null, ok: null };
  try {
    const ctx = await pageDevice();
    byId('st-device').textContent = formatDevice(adapterReport(ctx));
    const filter = byId<HTMLInputElement>('st-filter')
      .value.split(/[\s,]+/)
      .filter(Boolean);
    const golden = await goldenFixture();
    last = await runSelftest(ctx, {
      quick: byId<HTMLInputElement>('st-quick').checked,
      filter,
      golden,
      onStart: (c, i, n) => (status.textContent = `${i + 1}/${n}: ${c.op} ${c.kind} ${c.shapes} (${c.variant})…`),
      onResult: (r) => {
        tbody.append(rowEl(r));
        hooks.selftest.results.push(r);
      },
    });
    const summary = formatSummary(last);
    byId('st-summary').textContent = summary;
    status.textContent = `${last.ok ? 'passed' : 'FAILED'}: ${last.passed} passed, ${last.failed} failed, ${last.skipped} skipped in ${last.seconds} s`;
    hooks.selftest.summary = summary;
    hooks.selftest.ok = last.ok;
    hooks.selftest.done = true;
    byId<HTMLButtonElement>('st-json').disabled = false;
  } catch (e) {
    const msg = plainMessage(e);
    showError(err, msg);
    hooks.selftest.error = msg;
    status.textContent = '';
    console.error(e);
  } finally {
    hooks.selftest.running = false;
    byId<HTMLButtonElement>('st-run').disabled = false;
  }
}

export function selftestTab(): HTMLElement {
  return h(
    'section',
    { id: 'tab-selftest', class: 'tab' },
    h(
      'div',
      { class: 'panel' },
      h(
        'p',
        {},
        'Does lrdif work on this GPU? The checks of ',
        h('code', {}, 'lrdif selftest'),
        ' on this page’s WebGPU device: every op forward and backward against float64 references, every kernel variant the adapter can run (the others are skipped, with the reason), a tiny LRDif trained on procedural faces (its loss must fall) and its inference against PyTorch. The quick set takes a minute or two on a CPU adapter.',
      ),
      h(
        'div',
        { class: 'row wrap' },
        field('Ops (filters)', h('input', { id: 'st-filter', type: 'text', placeholder: 'e.g. matmul lrdif (empty: all)' })),
        h('label', { class: 'check' }, h('input', { id: 'st-quick', type: 'checkbox', checked: true }), ' quick'),
        h('button', { id: 'st-run', onclick: () => void run() }, 'Run self-test'),
        h(
          'button',
          { id: 'st-json', class: 'secondary', disabled: true, onclick: () => last && download('lrdif-selftest.json', `${JSON.stringify(last, null, 2)}\n`, 'application/json') },
          'Download JSON',
        ),
      ),
      h('div', { id: 'st-error', class: 'error', hidden: true, role: 'alert' }),
      h('pre', { id: 'st-device', class: 'bench-table' }),
      h('div', { id: 'st-status', class: 'status' }),
      h(
        'table',
        { class: 'bench' },
        h('thead', {}, h('tr', {}, ...['op', 'kind', 'shapes', 'variant', 'max error', 'tolerance', 'result', 'ms'].map((c) => h('th', {}, c)))),
        h('tbody', { id: 'st-rows' }),
      ),
      h('pre', { id: 'st-summary', class: 'bench-table' }),
    ),
  );
}
