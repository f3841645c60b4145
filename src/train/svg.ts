/**
 * Hand-written SVG figures (browser-safe strings): the confusion matrix, a scatter plot of
 * labelled 2-D points (the t-SNE of the fused features, the paper's Fig. 4) and a line plot
 * (accuracy against the number of diffusion steps, the paper's Fig. 6).
 */

/** Ten distinguishable colours (Tableau 10). */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));

function svgDoc(width: number, height: number, body: string[], title: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * The confusion matrix as a heat map: cell colour by the row-normalised rate (the share of the
 * true class), text with the count and the rate; rows true classes, columns predictions.
 */
export function confusionMatrixSvg(confusion: readonly (readonly number[])[], classNames: readonly string[], title = 'Confusion matrix'): string {
  const K = classNames.length;
  if (confusion.length !== K || confusion.some((r) => r.length !== K)) throw new Error(`lrdif: confusionMatrixSvg: the matrix is not ${K}×${K} (one row and column per class)`);
  const cell = 64;
  const left = 20 + 8 * Math.max(...classNames.map((c) => c.length));
  const top = 60;
  const width = left + K * cell + 40;
  const height = top + K * cell + 30 + 8 * Math.max(...classNames.map((c) => c.length));
  const body: string[] = [`<text x="${width / 2}" y="24" font-size="16" text-anchor="middle">${escapeXml(title)}</text>`];
  body.push(`<text x="${left + (K * cell) / 2}" y="46" font-size="12" text-anchor="middle">predicted class</text>`);
  body.push(`<text transform="translate(12 ${top + (K * cell) / 2}) rotate(-90)" font-size="12" text-anchor="middle">true class</text>`);
  for (let t = 0; t < K; t++) {
    const n = confusion[t].reduce((a, b) => a + b, 0);
    for (let p = 0; p < K; p++) {
      const rate = n ? confusion[t][p] / n : 0;
      // white → blue
      const r = Math.round(255 - rate * (255 - 31));
      const g = Math.round(255 - rate * (255 - 83));
      const b = Math.round(255 - rate * (255 - 180));
      const x = left + p * cell;
      const y = top + t * cell;
      body.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="rgb(${r},${g},${b})" stroke="#888" stroke-width="0.5"/>`);
      const ink = rate > 0.55 ? '#ffffff' : '#000000';
      body.push(`<text x="${x + cell / 2}" y="${y + cell / 2 - 2}" font-size="13" text-anchor="middle" fill="${ink}">${confusion[t][p]}</text>`);
      body.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 14}" font-size="10" text-anchor="middle" fill="${ink}">${n ? `${(100 * rate).toFixed(0)}%` : '-'}</text>`);
    }
    body.push(`<text x="${left - 6}" y="${top + t * cell + cell / 2 + 4}" font-size="12" text-anchor="end">${escapeXml(classNames[t])}</text>`);
  }
  for (let p = 0; p < K; p++) {
    const x = left + p * cell + cell / 2;
    const y = top + K * cell + 10;
    body.push(`<text transform="translate(${x} ${y}) rotate(45)" font-size="12" text-anchor="start">${escapeXml(classNames[p])}</text>`);
  }
  return svgDoc(width, height, body, title);
}

/** A scatter plot of points [n, 2] coloured by label, with a legend. */
export function scatterSvg(points: ArrayLike<number>, labels: ArrayLike<number>, classNames: readonly string[], title = 't-SNE'): string {
  const n = labels.length;
  if (points.length !== 2 * n) throw new Error(`lrdif: scatterSvg: ${points.length} coordinates for ${n} labels (expected 2 per point)`);
  const size = 520;
  const pad = 30;
  const legendW = 20 + 8 * Math.max(...classNames.map((c) => c.length)) + 30;
  const width = size + legendW;
  const height = size + 40;
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    minX = Math.min(minX, points[2 * i]);
    maxX = Math.max(maxX, points[2 * i]);
    minY = Math.min(minY, points[2 * i + 1]);
    maxY = Math.max(maxY, points[2 * i + 1]);
  }
  const span = Math.max(maxX - minX, maxY - minY, 1e-12);
  const sx = (v: number) => pad + ((v - minX) / span) * (size - 2 * pad);
  const sy = (v: number) => 40 + pad + ((v - minY) / span) * (size - 2 * pad) - pad;
  const body: string[] = [`<text x="${size / 2}" y="24" font-size="16" text-anchor="middle">${escapeXml(title)}</text>`];
  body.push(`<rect x="${pad / 2}" y="${34}" width="${size - pad}" height="${size - pad}" fill="none" stroke="#ccc"/>`);
  for (let i = 0; i < n; i++) {
    const c = PALETTE[labels[i] % PALETTE.length];
    body.push(`<circle cx="${sx(points[2 * i]).toFixed(1)}" cy="${sy(points[2 * i + 1]).toFixed(1)}" r="3" fill="${c}" fill-opacity="0.8"/>`);
  }
  classNames.forEach((name, k) => {
    const y = 50 + 20 * k;
    body.push(`<circle cx="${size + 10}" cy="${y - 4}" r="5" fill="${PALETTE[k % PALETTE.length]}"/>`);
    body.push(`<text x="${size + 22}" y="${y}" font-size="12">${escapeXml(name)}</text>`);
  });
  return svgDoc(width, height, body, title);
}

export interface LineSeries {
  name: string;
  /** Points (x, y); y null leaves a gap. */
  points: Array<[number, number | null]>;
}

/**
 * A line plot with markers. `logX` spaces x in log2 (T = 1, 2, 4, … 32); tick marks at the
 * series' x values; y in percent when `percent`.
 */
export function linePlotSvg(series: readonly LineSeries[], opts: { title: string; xLabel: string; yLabel: string; logX?: boolean; percent?: boolean }): string {
  const width = 640;
  const height = 420;
  const m = { left: 70, right: 150, top: 50, bottom: 60 };
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const ys = series.flatMap((s) => s.points.map((p) => p[1]).filter((v): v is number => v !== null && Number.isFinite(v)));
  if (xs.length === 0) throw new Error('lrdif: linePlotSvg: no points');
  const tx = (v: number) => (opts.logX ? Math.log2(v) : v);
  const x0 = tx(xs[0]);
  const x1 = tx(xs[xs.length - 1]);
  let y0 = ys.length ? Math.min(...ys) : 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  if (opts.percent) {
    y0 = Math.max(0, Math.floor(y0 * 10 - 0.5) / 10);
    y1 = Math.min(1, Math.ceil(y1 * 10 + 0.5) / 10);
  }
  if (y1 - y0 < 1e-9) {
    y0 -= 0.05;
    y1 += 0.05;
  }
  const W = width - m.left - m.right;
  const H = height - m.top - m.bottom;
  const px = (v: number) => m.left + (x1 === x0 ? W / 2 : ((tx(v) - x0) / (x1 - x0)) * W);
  const py = (v: number) => m.top + H - ((v - y0) / (y1 - y0)) * H;
  const yText = (v: number) => (opts.percent ? `${(100 * v).toFixed(0)}%` : fmt(v));
  const body: string[] = [`<text x="${m.left + W / 2}" y="26" font-size="16" text-anchor="middle">${escapeXml(opts.title)}</text>`];
  body.push(`<line x1="${m.left}" y1="${m.top + H}" x2="${m.left + W}" y2="${m.top + H}" stroke="#000"/>`);
  body.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + H}" stroke="#000"/>`);
  for (const x of xs) {
    body.push(`<line x1="${px(x)}" y1="${m.top + H}" x2="${px(x)}" y2="${m.top + H + 5}" stroke="#000"/>`);
    body.push(`<text x="${px(x)}" y="${m.top + H + 20}" font-size="12" text-anchor="middle">${fmt(x)}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const v = y0 + ((y1 - y0) * i) / 5;
    body.push(`<line x1="${m.left - 5}" y1="${py(v)}" x2="${m.left + W}" y2="${py(v)}" stroke="${i === 0 ? '#000' : '#e5e5e5'}"/>`);
    body.push(`<text x="${m.left - 8}" y="${py(v) + 4}" font-size="12" text-anchor="end">${yText(v)}</text>`);
  }
  body.push(`<text x="${m.left + W / 2}" y="${height - 18}" font-size="13" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  body.push(`<text transform="translate(18 ${m.top + H / 2}) rotate(-90)" font-size="13" text-anchor="middle">${escapeXml(opts.yLabel)}</text>`);
  series.forEach((s, k) => {
    const c = PALETTE[k % PALETTE.length];
    const pts = s.points.filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1])).sort((a, b) => a[0] - b[0]);
    if (pts.length > 1) body.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) {
      body.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="4" fill="${c}"/>`);
      body.push(`<text x="${px(p[0]).toFixed(1)}" y="${(py(p[1]) - 9).toFixed(1)}" font-size="10" text-anchor="middle" fill="${c}">${yText(p[1])}</text>`);
    }
    body.push(`<line x1="${width - m.right + 15}" y1="${m.top + 10 + 20 * k}" x2="${width - m.right + 35}" y2="${m.top + 10 + 20 * k}" stroke="${c}" stroke-width="2"/>`);
    body.push(`<text x="${width - m.right + 40}" y="${m.top + 14 + 20 * k}" font-size="12">${escapeXml(s.name)}</text>`);
  });
  return svgDoc(width, height, body, opts.title);
}
