/** Small DOM helpers for the page (no framework). */
import type { RgbImage } from '../../src/io/image.js';

type Attrs = Record<string, string | number | boolean | undefined | null | ((ev: Event) => void)>;
type Child = Node | string | number | null | undefined | false;

/** Creates an element: attributes (`on…` keys add listeners, `class`, `style`, …) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

/** Shows a message in an error box (or hides it with null). */
export function showError(box: HTMLElement, message: string | null): void {
  box.textContent = message ?? '';
  box.hidden = message === null;
}

/** An RGB image drawn into a canvas at its own size. */
export function drawImage(canvas: HTMLCanvasElement, img: RgbImage): CanvasRenderingContext2D {
  canvas.width = img.width;
  canvas.height = img.height;
  const g = canvas.getContext('2d')!;
  const data = g.createImageData(img.width, img.height);
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    data.data[4 * i] = img.data[3 * i];
    data.data[4 * i + 1] = img.data[3 * i + 1];
    data.data[4 * i + 2] = img.data[3 * i + 2];
    data.data[4 * i + 3] = 255;
  }
  g.putImageData(data, 0, 0);
  return g;
}

/** A canvas holding an RGB image. */
export function imageCanvas(img: RgbImage, cls = ''): HTMLCanvasElement {
  const c = h('canvas', { class: cls });
  drawImage(c, img);
  return c;
}

/** Offers bytes as a download. */
export function download(name: string, bytes: Uint8Array | string, type = 'application/octet-stream'): void {
  const blob = new Blob([bytes as BlobPart], { type });
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`;
}

export function fmtBytes(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(0)} KiB` : `${n} B`;
}

/** A labelled form field. */
export function field(label: string, input: HTMLElement, hint?: string): HTMLLabelElement {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), input, hint ? h('span', { class: 'hint' }, hint) : null);
}

/** Yields to the browser so it can paint. */
export function nextFrame(): Promise<void> {
  return new Promise((r) => requestAnimationFrame(() => r()));
}
