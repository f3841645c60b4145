/** The self-test's text output: the device on top, one row per check, failures and a summary below. */
import type { AdapterReport } from './adapter.js';
import type { CheckResult, SelftestReport } from './run.js';

const COLUMNS: Array<{ title: string; width: number; get: (r: CheckResult) => string; right?: boolean }> = [
  { title: 'op', width: 17, get: (r) => r.op },
  { title: 'kind', width: 9, get: (r) => r.kind },
  { title: 'shapes', width: 50, get: (r) => r.shapes },
  { title: 'variant', width: 34, get: (r) => r.variant },
  { title: 'max error', width: 9, get: (r) => (r.maxError === null ? '-' : fmtNum(r.maxError)), right: true },
  { title: 'tolerance', width: 18, get: (r) => r.tolerance },
  { title: 'result', width: 6, get: (r) => r.status.toUpperCase() },
  { title: 'ms', width: 8, get: (r) => (r.status === 'skip' ? '-' : r.ms.toFixed(0)), right: true },
];

function fmtNum(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 0.01 && Math.abs(v) < 1000) return v.toPrecision(3);
  return v.toExponential(1);
}

function cell(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

export function formatDevice(d: AdapterReport): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const sg = d.caps.subgroups ? `${d.caps.subgroupMinSize}–${d.caps.subgroupMaxSize} invocations` : 'none';
  const lines = [
    `adapter      ${d.adapter.summary}`,
    `vendor       ${d.adapter.vendor || '-'}, architecture ${d.adapter.architecture || '-'}, device ${d.adapter.device || '-'}`,
    `features     ${d.features.join(', ') || 'none'}`,
    `lrdif uses   shader-f16: ${yes(d.lrdifFeatures.shaderF16)}, subgroups: ${yes(d.lrdifFeatures.subgroups)} (${sg}), timestamp-query: ${yes(d.lrdifFeatures.timestampQuery)}; CPU adapter: ${yes(d.caps.isCpuAdapter)}`,
    `kernels      matmul ${d.tuning.matmul.path}, channel attention ${d.tuning.channelAttention.path}, window attention ${d.tuning.windowAttention.path}, ddpm chain ${d.tuning.ddpm.path}, permute ${d.tuning.permute.tiled ? 'tiled' : 'strided'}, fft local ≤ ${d.tuning.fft.localMax}, rows ${d.tuning.rowKernels.perThread}/thread`,
  ];
  const entries = Object.entries(d.limits).map(([k, v]) => `${k} ${v}`);
  lines.push('limits');
  for (let i = 0; i < entries.length; i += 3) lines.push(`  ${entries.slice(i, i + 3).join(', ')}`);
  return lines.join('\n');
}

export function formatHeaderRow(): string {
  const head = COLUMNS.map((c) => cell(c.title, c.width, c.right)).join('  ');
  return `${head}\n${'-'.repeat(head.length)}`;
}

export function formatRow(r: CheckResult): string {
  return COLUMNS.map((c) => cell(c.get(r), c.width, c.right))
    .join('  ')
    .trimEnd();
}

/** Failures with their reason, skipped variants, the variants forced and the totals. */
export function formatSummary(rep: SelftestReport): string {
  const lines: string[] = [];
  const failed = rep.results.filter((r) => r.status === 'fail');
  if (failed.length) {
    lines.push('', 'failures');
    for (const r of failed) lines.push(`  ${r.op} ${r.kind} ${r.shapes} (${r.variant}): ${r.detail ?? 'no detail'}`);
  }
  const skipped = new Map<string, number>();
  for (const r of rep.results) if (r.status === 'skip') skipped.set(r.detail ?? '', (skipped.get(r.detail ?? '') ?? 0) + 1);
  if (skipped.size) {
    lines.push('', 'skipped');
    for (const [why, n] of skipped) lines.push(`  ${n} check${n === 1 ? '' : 's'}: ${why}`);
  }
  const training = rep.results.filter((r) => r.kind === 'training' && r.detail);
  if (training.length) {
    lines.push('', 'training');
    for (const r of training) lines.push(`  ${r.shapes}: ${r.detail}`);
  }
  lines.push('', 'kernel variants forced');
  for (const [family, settings] of Object.entries(rep.forced)) lines.push(`  ${family}: ${settings!.join(', ')}`);
  lines.push(
    '',
    `${rep.ok ? 'PASS' : 'FAIL'}: ${rep.passed} passed, ${rep.failed} failed, ${rep.skipped} skipped in ${rep.seconds} s${rep.quick ? ' (--quick)' : ''} on ${rep.device.adapter.summary}`,
  );
  return lines.join('\n');
}
