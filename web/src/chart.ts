/**
 * A small line chart on a canvas: series of (x, y) points, auto-scaled axes with a few ticks,
 * a legend, and optional vertical markers (e.g. where stage 2 starts).
 */
export interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
  /** Draw dots instead of a line (sparse series such as per-epoch test accuracy). */
  dots?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yMin?: number;
  yMax?: number;
  /** Logarithmic y axis (positive values only). */
  logY?: boolean;
  markers?: Array<{ x: number; label: string }>;
}

/** Ticks 1, 2, 5 × 10^k between 10^lo and 10^hi (fewer when the range is wide). */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const steps = hi - lo > 2 ? [1] : [1, 2, 5];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
    for (const m of steps) {
      const v = m * 10 ** k;
      const l = Math.log10(v);
      if (l >= lo - 1e-9 && l <= hi + 1e-9) out.push(Number(v.toPrecision(6)));
    }
  }
  return out.length ? out : [Number((10 ** lo).toPrecision(3))];
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(10)));
  return out;
}

export function drawChart(canvas: HTMLCanvasElement, series: Series[], o: ChartOptions): void {
  const dpr = globalThis.devicePixelRatio || 1;
  const W = canvas.clientWidth || 600;
  const H = canvas.clientHeight || 260;
  canvas.width = Math.round(W * dpr);
  canvas.height = Math.round(H * dpr);
  const g = canvas.getContext('2d')!;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, W, H);
  const pad = { l: 48, r: 12, t: 26, b: 30 };
  const ty = (y: number) => (o.logY ? Math.log10(y) : y);
  const pts = series.flatMap((s) => s.points);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => ty(p[1])).filter(Number.isFinite);
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs, x0 + 1) : 1;
  let y0 = o.yMin !== undefined ? ty(o.yMin) : ys.length ? Math.min(...ys) : 0;
  let y1 = o.yMax !== undefined ? ty(o.yMax) : ys.length ? Math.max(...ys) : 1;
  if (!(y1 > y0)) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  // headroom for the legend above the highest point
  if (o.yMax === undefined) y1 += 0.12 * (y1 - y0);
  const X = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (W - pad.l - pad.r);
  const Y = (y: number) => H - pad.b - ((ty(y) - y0) / (y1 - y0)) * (H - pad.t - pad.b);
  g.font = '12px system-ui, sans-serif';
  g.fillStyle = '#222';
  g.fillText(o.title, pad.l, 16);
  g.strokeStyle = '#ddd';
  g.lineWidth = 1;
  g.fillStyle = '#666';
  const yTicks = o.logY ? logTicks(y0, y1) : niceTicks(y0, y1);
  for (const t of yTicks) {
    g.beginPath();
    g.moveTo(pad.l, Y(t));
    g.lineTo(W - pad.r, Y(t));
    g.stroke();
    g.fillText(String(t), 4, Y(t) + 4);
  }
  for (const t of niceTicks(x0, x1, 6)) g.fillText(String(t), X(t) - 6, H - pad.b + 14);
  g.fillText(o.xLabel, W - pad.r - g.measureText(o.xLabel).width, H - 4);
  for (const m of o.markers ?? []) {
    g.strokeStyle = '#999';
    g.setLineDash([4, 4]);
    g.beginPath();
    g.moveTo(X(m.x), pad.t);
    g.lineTo(X(m.x), H - pad.b);
    g.stroke();
    g.setLineDash([]);
    g.fillStyle = '#666';
    g.fillText(m.label, X(m.x) + 4, pad.t + 10);
  }
  let lx = W - pad.r;
  for (const s of [...series].reverse()) {
    const w = g.measureText(s.name).width;
    lx -= w + 22;
    g.fillStyle = s.color;
    g.fillRect(lx, 8, 12, 4);
    g.fillStyle = '#333';
    g.fillText(s.name, lx + 16, 14);
  }
  for (const s of series) {
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.lineWidth = 1.5;
    if (s.dots) {
      for (const [x, y] of s.points) {
        g.beginPath();
        g.arc(X(x), Y(y), 3.5, 0, 2 * Math.PI);
        g.fill();
      }
      continue;
    }
    g.beginPath();
    s.points.forEach(([x, y], i) => (i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
    g.stroke();
  }
}
