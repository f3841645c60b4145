/**
 * Procedural face images with the seven basic expressions, for tests, CI and demos where no
 * real dataset is at hand. Pure TypeScript (CPU): every image is rasterised from parameters
 * with antialiased signed-distance shapes.
 *
 * A face is drawn from
 * - expression parameters (the class): mouth curve (corners up/down) and openness, mouth
 *   width, teeth, upper-lip raise, brow angle (inner ends up or down) and height, eye
 *   openness, nose wrinkles — each class has a prototype, and every sample is jittered
 *   around it so neighbouring classes overlap a little;
 * - identity: face width and height, eye spacing and size, iris colour, nose length and
 *   width, lip thickness, skin tone, hair colour and hairline, clothes;
 * - scene: head rotation (±10°), offset (±5 % of the image) and scale (±8 %), light direction
 *   and strength, a two-colour background gradient with a soft blob, and pixel noise.
 * The pose and lighting jitter mean no single pixel gives the class away, while the mouth,
 * brow and eye regions carry it.
 *
 * Image i of seed s depends only on (s, i): its parameters and noise come from the Philox
 * stream i of seed s (src/data/rng.ts). Its class is i mod 7 (balanced datasets), in the
 * order of BASIC_CLASSES: neutral, happiness, surprise, sadness, anger, disgust, fear.
 */
import type { RgbImage } from '../io/image.js';
import { HostRandom, mulberry32 } from './rng.js';
import { BASIC_CLASSES, type ClassName } from './datasets/types.js';

export const SYNTHETIC_CLASSES = BASIC_CLASSES;

type Rgb = [number, number, number];

export interface FaceParams {
  label: number;
  expression: ClassName;
  // expression
  mouthCurve: number;
  mouthOpen: number;
  mouthWidth: number;
  teeth: number;
  lipRaise: number;
  browAngle: number;
  browHeight: number;
  eyeOpen: number;
  noseWrinkle: number;
  // identity
  faceWidth: number;
  faceHeight: number;
  eyeSpacing: number;
  eyeY: number;
  eyeSize: number;
  noseLength: number;
  noseWidth: number;
  lipThickness: number;
  skin: Rgb;
  hair: Rgb;
  hairline: number;
  iris: Rgb;
  clothes: Rgb;
  // scene
  rotation: number;
  offsetX: number;
  offsetY: number;
  scale: number;
  lightAngle: number;
  lightStrength: number;
  background: [Rgb, Rgb];
  backgroundAngle: number;
  blob: [number, number, number];
  blobColor: Rgb;
  noise: number;
}

/** Prototype expression parameters, one row per class (BASIC_CLASSES order). */
const PROTOTYPES: Record<
  Exclude<ClassName, 'contempt'>,
  { curve: number; open: number; width: number; teeth: number; raise: number; browAngle: number; browHeight: number; eyeOpen: number; wrinkle: number }
> = {
  neutral: { curve: 0, open: 0.03, width: 0.4, teeth: 0, raise: 0, browAngle: 0, browHeight: 0, eyeOpen: 1, wrinkle: 0 },
  happiness: { curve: 0.85, open: 0.45, width: 0.52, teeth: 1, raise: 0, browAngle: 0.05, browHeight: 0.01, eyeOpen: 0.7, wrinkle: 0 },
  surprise: { curve: 0, open: 0.95, width: 0.3, teeth: 0, raise: 0, browAngle: 0.05, browHeight: 0.1, eyeOpen: 1.45, wrinkle: 0 },
  sadness: { curve: -0.85, open: 0.03, width: 0.4, teeth: 0, raise: 0, browAngle: 0.6, browHeight: 0.015, eyeOpen: 0.75, wrinkle: 0 },
  anger: { curve: -0.2, open: 0, width: 0.36, teeth: 0, raise: 0, browAngle: -0.65, browHeight: -0.05, eyeOpen: 0.8, wrinkle: 0.4 },
  disgust: { curve: -0.4, open: 0.22, width: 0.42, teeth: 0.6, raise: 1, browAngle: -0.25, browHeight: -0.02, eyeOpen: 0.6, wrinkle: 1 },
  fear: { curve: -0.3, open: 0.55, width: 0.5, teeth: 0.4, raise: 0, browAngle: 0.45, browHeight: 0.08, eyeOpen: 1.4, wrinkle: 0 },
};

const SKIN_LIGHT: Rgb = [241, 206, 180];
const SKIN_DARK: Rgb = [92, 58, 42];
const HAIR: Rgb[] = [
  [25, 20, 18],
  [70, 45, 30],
  [120, 80, 45],
  [200, 165, 100],
  [150, 60, 30],
  [160, 160, 160],
];
const IRIS: Rgb[] = [
  [60, 40, 25],
  [90, 60, 30],
  [60, 90, 130],
  [70, 110, 70],
];

const BROW_RADIUS = 0.012;

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function mixRgb(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function randomColor(r: HostRandom, lo = 20, hi = 235): Rgb {
  return [r.range(lo, hi), r.range(lo, hi), r.range(lo, hi)];
}

/** Draws the parameters of one face of class `label` from `r`. */
export function sampleFaceParams(label: number, r: HostRandom): FaceParams {
  if (!Number.isInteger(label) || label < 0 || label >= SYNTHETIC_CLASSES.length) {
    throw new Error(`lrdif: sampleFaceParams: label must be an integer 0..${SYNTHETIC_CLASSES.length - 1}, got ${label}`);
  }
  const expression = SYNTHETIC_CLASSES[label];
  const p = PROTOTYPES[expression as Exclude<ClassName, 'contempt'>];
  const j = (sd: number) => sd * r.normal();
  const skinT = r.uniform();
  const skin = mixRgb(SKIN_LIGHT, SKIN_DARK, skinT);
  const tint = r.range(-12, 12);
  skin[0] += tint;
  skin[2] -= tint;
  const bg0 = randomColor(r);
  return {
    label,
    expression,
    mouthCurve: p.curve + j(0.15),
    mouthOpen: clamp(p.open + j(0.12), 0, 1.2),
    mouthWidth: clamp(p.width + j(0.05), 0.22, 0.65),
    teeth: clamp(p.teeth + j(0.2), 0, 1),
    lipRaise: clamp(p.raise + j(0.25), 0, 1.3),
    browAngle: p.browAngle + j(0.13),
    browHeight: p.browHeight + j(0.018),
    eyeOpen: clamp(p.eyeOpen + j(0.15), 0.2, 1.8),
    noseWrinkle: clamp(p.wrinkle + j(0.2), 0, 1.2),
    faceWidth: r.range(0.25, 0.31),
    faceHeight: r.range(0.33, 0.39),
    eyeSpacing: r.range(0.095, 0.125),
    eyeY: r.range(-0.055, -0.025),
    eyeSize: r.range(0.042, 0.055),
    noseLength: r.range(0.1, 0.135),
    noseWidth: r.range(0.035, 0.05),
    lipThickness: r.range(0.8, 1.3),
    skin,
    hair: mixRgb(HAIR[r.below(HAIR.length)], randomColor(r, 0, 255), 0.15),
    hairline: r.range(0.55, 0.8),
    iris: IRIS[r.below(IRIS.length)],
    clothes: randomColor(r),
    rotation: (r.range(-1, 1) * (6 * Math.PI)) / 180,
    offsetX: r.range(-0.03, 0.03),
    offsetY: r.range(-0.03, 0.03),
    scale: r.range(0.95, 1.05),
    lightAngle: r.range(0, 2 * Math.PI),
    lightStrength: r.range(0.2, 0.8),
    background: [bg0, mixRgb(bg0, randomColor(r), r.range(0.3, 1))],
    backgroundAngle: r.range(0, 2 * Math.PI),
    blob: [r.range(-0.5, 0.5), r.range(-0.5, 0.5), r.range(0.15, 0.4)],
    blobColor: randomColor(r),
    noise: r.range(1.5, 5),
  };
}

// ---------------------------------------------------------------- rasteriser

/** Approximate signed distance to an axis-aligned ellipse centred at the origin. */
function ellipseSd(x: number, y: number, a: number, b: number): number {
  const k = Math.sqrt((x / a) * (x / a) + (y / b) * (y / b));
  return (k - 1) * Math.min(a, b);
}

/** Signed distance to a capsule (segment a–b with radius rad). */
function capsuleSd(x: number, y: number, ax: number, ay: number, bx: number, by: number, rad: number): number {
  const px = x - ax;
  const py = y - ay;
  const dx = bx - ax;
  const dy = by - ay;
  const h = clamp((px * dx + py * dy) / (dx * dx + dy * dy), 0, 1);
  return Math.hypot(px - dx * h, py - dy * h) - rad;
}

/** Rasterises a face to size × size 8-bit RGB. `noiseSeed` seeds the pixel noise. */
export function renderFace(f: FaceParams, size: number, noiseSeed: number): RgbImage {
  if (!Number.isInteger(size) || size < 8) throw new Error(`lrdif: renderFace: size must be an integer ≥ 8, got ${size}`);
  const data = new Uint8Array(size * size * 3);
  const cosR = Math.cos(-f.rotation);
  const sinR = Math.sin(-f.rotation);
  const px = 1 / (size * f.scale); // one pixel in face units
  const m = 2 * px; // bounding-box margin
  const cov = (d: number) => (d <= -0.5 * px ? 1 : d >= 0.5 * px ? 0 : 0.5 - d / px);
  const a = f.faceWidth;
  const b = f.faceHeight;
  const headY = 0.02;
  const light = [Math.cos(f.lightAngle) * f.lightStrength, Math.sin(f.lightAngle) * f.lightStrength, 1];
  const ln = Math.sqrt(light[0] * light[0] + light[1] * light[1] + light[2] * light[2]);
  const bgDir = [Math.cos(f.backgroundAngle), Math.sin(f.backgroundAngle)];
  const browColor = mixRgb(f.hair, [20, 15, 10], 0.4);
  const lipColor = mixRgb(f.skin, [170, 50, 60], 0.35);
  const neckColor = mixRgb(f.skin, [0, 0, 0], 0.25);
  const earColor = mixRgb(f.skin, [0, 0, 0], 0.12);
  const white: Rgb = [238, 236, 230];
  const pupil: Rgb = [12, 10, 10];
  const lid: Rgb = [35, 25, 22];
  const mouthLine: Rgb = [70, 25, 30];
  const mouthInside: Rgb = [55, 18, 22];
  const teethColor: Rgb = [232, 226, 214];
  const hw = f.mouthWidth * a; // mouth half width
  const noseY = f.eyeY + f.noseLength;
  const mouthY = noseY + 0.075 + 0.02 * f.lipThickness;
  const browY = f.eyeY - f.eyeSize * 1.05 - 0.012 - f.browHeight;
  const eyeRy = Math.max(f.eyeSize * 0.5 * f.eyeOpen, f.eyeSize * 0.08);
  const ri = f.eyeSize * 0.45;
  const brows = [-1, 1].map((s) => ({
    ix: s * (f.eyeSpacing - f.eyeSize * 0.85),
    ox: s * (f.eyeSpacing + f.eyeSize * 1.15),
    iy: browY - f.browAngle * 0.05,
    oy: browY + f.browAngle * 0.015,
  }));
  const browTop = Math.min(...brows.map((br) => Math.min(br.iy, br.oy))) - BROW_RADIUS - m;
  const browBottom = Math.max(...brows.map((br) => Math.max(br.iy, br.oy))) + BROW_RADIUS + m;
  const side = light[0] > 0 ? -1 : 1;
  const noise = mulberry32(noiseSeed); // the pixel noise, seeded from the image's Philox stream
  const c: Rgb = [0, 0, 0];
  const paint = (col: Rgb, alpha: number) => {
    if (alpha <= 0) return;
    c[0] += (col[0] - c[0]) * alpha;
    c[1] += (col[1] - c[1]) * alpha;
    c[2] += (col[2] - c[2]) * alpha;
  };
  // skin shaded at this pixel, scaled by k (shadows)
  const sk: Rgb = [0, 0, 0];
  const paintSkin = (k: number, alpha: number) => {
    if (alpha <= 0) return;
    c[0] += (sk[0] * k - c[0]) * alpha;
    c[1] += (sk[1] * k - c[1]) * alpha;
    c[2] += (sk[2] * k - c[2]) * alpha;
  };
  const band = (y: number, lo: number, hi: number) => clamp((y - lo) / px + 0.5, 0, 1) * clamp((hi - y) / px + 0.5, 0, 1);
  for (let yy = 0; yy < size; yy++) {
    for (let xx = 0; xx < size; xx++) {
      const ux = (xx + 0.5) / size - 0.5;
      const uy = (yy + 0.5) / size - 0.5;
      // image → face coordinates (inverse pose)
      const ix = ux - f.offsetX;
      const iy = uy - f.offsetY;
      const x = (cosR * ix - sinR * iy) / f.scale;
      const y = (sinR * ix + cosR * iy) / f.scale;
      // background gradient and a soft blob
      const g = clamp(0.5 + ux * bgDir[0] + uy * bgDir[1], 0, 1);
      c[0] = f.background[0][0] + (f.background[1][0] - f.background[0][0]) * g;
      c[1] = f.background[0][1] + (f.background[1][1] - f.background[0][1]) * g;
      c[2] = f.background[0][2] + (f.background[1][2] - f.background[0][2]) * g;
      const bx = (ux - f.blob[0]) / f.blob[2];
      const by = (uy - f.blob[1]) / f.blob[2];
      const bd2 = bx * bx + by * by;
      if (bd2 < 1) paint(f.blobColor, 0.35 * (1 - bd2));
      // clothes and neck
      if (y > 0.38 - m) paint(f.clothes, cov(ellipseSd(x, y - 0.64, 0.46, 0.26)));
      if (y > 0.2 - a * 0.42 - m && Math.abs(x) < a * 0.42 + m) paint(neckColor, cov(capsuleSd(x, y, 0, 0.2, 0, 0.5, a * 0.42)));
      // hair behind the head, ears
      const hd = ellipseSd(x, y - headY + 0.035, a * 1.12, b * 1.02);
      if (hd < m) paint(f.hair, cov(hd));
      if (Math.abs(Math.abs(x) - a * 0.98) < 0.035 + m) paint(earColor, cov(ellipseSd(Math.abs(x) - a * 0.98, y - headY - f.eyeY - 0.02, 0.035, 0.06)));
      // head, shaded as an ellipsoid
      const headSd = ellipseSd(x, y - headY, a, b);
      if (headSd < m) {
        const inHead = cov(headSd);
        const hx = x / a;
        const hy = (y - headY) / b;
        const nz = Math.sqrt(Math.max(0, 1 - hx * hx - hy * hy));
        const dot = (hx * light[0] + hy * light[1] + nz * light[2]) / (Math.sqrt(hx * hx + hy * hy + nz * nz) * ln);
        const shade = 0.62 + 0.45 * Math.max(0, dot);
        sk[0] = f.skin[0] * shade;
        sk[1] = f.skin[1] * shade;
        sk[2] = f.skin[2] * shade;
        paintSkin(1, inHead);
        // fringe above the hairline (wavy)
        const fringeY = -b * f.hairline + 0.015 * Math.sin(x * 40 + f.hairline * 10);
        if (y - headY < fringeY + m) paint(f.hair, inHead * clamp((fringeY - (y - headY)) / px + 0.5, 0, 1));
        // eyes
        const ey = y - f.eyeY;
        if (Math.abs(ey) < eyeRy + 0.006 + m) {
          for (const s of [-1, 1]) {
            const ex = x - s * f.eyeSpacing;
            if (Math.abs(ex) > f.eyeSize + 0.006 + m) continue;
            const eyeSd = ellipseSd(ex, ey, f.eyeSize, eyeRy);
            const inEye = cov(eyeSd);
            if (inEye > 0) {
              paint(white, inEye);
              const r = Math.sqrt(ex * ex + ey * ey);
              paint(f.iris, inEye * cov(r - ri));
              paint(pupil, inEye * cov(r - ri * 0.45));
            }
            // upper lid line and lower shadow
            if (ey < eyeRy * 0.3) paint(lid, cov(Math.abs(eyeSd) - 0.0045) * 0.9);
            else paintSkin(0.7, cov(Math.abs(eyeSd) - 0.002) * 0.5);
          }
        }
        // brows: inner ends raised by browAngle
        if (y > browTop && y < browBottom) {
          for (const br of brows) paint(browColor, cov(capsuleSd(x, y, br.ix, br.iy, br.ox, br.oy, BROW_RADIUS)));
        }
        // nose: bridge shadow on the side away from the light, nostrils, wrinkles
        if (Math.abs(x) < f.noseWidth + 0.02 && y > f.eyeY && y < noseY + 0.02) {
          paintSkin(0.65, 0.5 * cov(capsuleSd(x, y, side * 0.012, f.eyeY + 0.03, side * 0.016, noseY - 0.012, 0.004)));
          for (const s of [-1, 1]) paintSkin(0.45, cov(ellipseSd(x - s * f.noseWidth * 0.45, y - noseY, 0.011, 0.0065)));
          paintSkin(0.8, 0.6 * cov(ellipseSd(x, y - noseY + 0.006, f.noseWidth * 0.8, 0.012)));
          if (f.noseWrinkle > 0.05) {
            for (let k = 0; k < 3; k++) {
              const wy = f.eyeY + 0.025 + 0.012 * k;
              paintSkin(0.55, Math.min(1, f.noseWrinkle) * 0.8 * cov(capsuleSd(x, y, -0.018, wy, 0.018, wy - 0.003, 0.0025)));
            }
          }
        }
        // mouth
        if (Math.abs(x) < hw + m && Math.abs(y - mouthY) < 0.12) {
          const t = clamp(x / hw, -1, 1);
          const edge = clamp((hw - Math.abs(x)) / px + 0.5, 0, 1);
          const bulge = Math.pow(Math.max(0, 1 - t * t), 0.6);
          const yc = mouthY - f.mouthCurve * 0.06 * t * t + f.mouthCurve * 0.016;
          const gap = f.mouthOpen * 0.065 * bulge;
          const raise = f.lipRaise * 0.014 * bulge * (0.7 + 0.3 * t);
          const yu = yc - gap * 0.35 - raise;
          const yl = yc + gap * 0.65;
          const lipU = (0.009 * Math.sqrt(Math.max(0, 1 - t * t)) + 0.002) * f.lipThickness;
          const lipL = (0.013 * Math.sqrt(Math.max(0, 1 - t * t)) + 0.002) * f.lipThickness;
          paint(lipColor, edge * band(y, yu - lipU, yu));
          paint(lipColor, edge * band(y, yl, yl + lipL));
          if (yl - yu > 0.3 * px) {
            paint(mouthInside, edge * band(y, yu, yl));
            if (f.teeth > 0.1) paint(teethColor, edge * f.teeth * band(y, yu, yu + (yl - yu) * 0.38));
          }
          paint(mouthLine, edge * 0.8 * cov(Math.abs(y - (yu + yl) / 2) - Math.max(0.0015, (yl - yu) / 2)));
        }
      }
      const o = (yy * size + xx) * 3;
      for (let k = 0; k < 3; k++) {
        const n = (noise() + noise() + noise() - 1.5) * 2 * f.noise;
        const v = Math.round(c[k] + n);
        data[o + k] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return { width: size, height: size, data };
}

/** Face i of seed `seed`: class i mod 7, parameters and noise from Philox stream i. */
export function syntheticFace(seed: number, index: number, size = 112): { image: RgbImage; params: FaceParams } {
  if (!Number.isInteger(index) || index < 0) throw new Error(`lrdif: syntheticFace: index must be an integer ≥ 0, got ${index}`);
  const r = new HostRandom(seed, index);
  const params = sampleFaceParams(index % SYNTHETIC_CLASSES.length, r);
  return { image: renderFace(params, size, r.nextU32()), params };
}

/** The split of each image of a synthetic dataset: per class, round(testFraction · count) seeded picks go to test. */
export function syntheticSplits(n: number, seed: number, testFraction: number): Array<'train' | 'test'> {
  if (!(testFraction >= 0 && testFraction <= 1)) throw new Error(`lrdif: synthetic faces: testFraction must be in [0, 1], got ${testFraction}`);
  const k = SYNTHETIC_CLASSES.length;
  const out = new Array<'train' | 'test'>(n).fill('train');
  for (let c = 0; c < k; c++) {
    const members: number[] = [];
    for (let i = c; i < n; i += k) members.push(i);
    new HostRandom(seed, 2 ** 40 + c).shuffle(members);
    const nTest = Math.round(members.length * testFraction);
    for (const i of members.slice(0, nTest)) out[i] = 'test';
  }
  return out;
}
