/**
 * EXIF test material: TIFF blocks with an Orientation tag, inserted into JPEG (APP1) and PNG
 * (eXIf) files, and what each orientation means, built from two primitive moves (mirror, a
 * clockwise quarter turn) and the EXIF 2.32 table — independently of src/io/image.ts.
 */
import type { RgbImage } from '../../src/io/image.js';

/** A TIFF block (as in an APP1 "Exif" segment or a PNG eXIf chunk) whose IFD0 holds Make, then Orientation = o. */
export function tiffWithOrientation(o: number, little: boolean): Uint8Array {
  const b: number[] = [];
  const u16 = (v: number) => (little ? b.push(v & 255, v >> 8) : b.push(v >> 8, v & 255));
  const u32 = (v: number) => (little ? b.push(v & 255, (v >> 8) & 255, (v >> 16) & 255, v >>> 24) : b.push(v >>> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255));
  b.push(...(little ? [0x49, 0x49] : [0x4d, 0x4d]));
  u16(42);
  u32(8); // IFD0 right after the header
  u16(2); // two entries
  // Make (0x010F, ASCII, 6 bytes at offset 38): "lrdif\0"
  u16(0x010f);
  u16(2);
  u32(6);
  u32(38);
  // Orientation (0x0112, SHORT, count 1), value left-justified in the 4-byte field
  u16(0x0112);
  u16(3);
  u32(1);
  u16(o);
  u16(0);
  u32(0); // no next IFD
  b.push(...Array.from('lrdif\0', (c) => c.charCodeAt(0)));
  return Uint8Array.from(b);
}

/** The JPEG with an APP1 Exif segment inserted after SOI. */
export function withExifJpeg(jpg: Uint8Array, tiff: Uint8Array): Uint8Array {
  const body = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
  const seg = [0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 255, ...body];
  return Uint8Array.from([...jpg.subarray(0, 2), ...seg, ...jpg.subarray(2)]);
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const v of bytes) {
    c ^= v;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** The PNG with an eXIf chunk inserted after IHDR. */
export function withExifPng(png: Uint8Array, tiff: Uint8Array): Uint8Array {
  const typeAndData = Uint8Array.from([0x65, 0x58, 0x49, 0x66, ...tiff]); // "eXIf"
  const len = [tiff.length >>> 24, (tiff.length >> 16) & 255, (tiff.length >> 8) & 255, tiff.length & 255];
  const crc = crc32(typeAndData);
  const chunk = [...len, ...typeAndData, crc >>> 24, (crc >> 16) & 255, (crc >> 8) & 255, crc & 255];
  const afterIhdr = 8 + 8 + 13 + 4;
  return Uint8Array.from([...png.subarray(0, afterIhdr), ...chunk, ...png.subarray(afterIhdr)]);
}

// The expectation, built from two primitive moves on a 2-D array of pixels (rows of [r, g, b])
// and the EXIF 2.32 table of what each orientation means, independently of orientImage.
export type Grid = number[][][];
export const toGrid = (im: RgbImage): Grid =>
  Array.from({ length: im.height }, (_, y) => Array.from({ length: im.width }, (_, x) => Array.from(im.data.subarray(3 * (y * im.width + x), 3 * (y * im.width + x) + 3))));
const mirror = (g: Grid): Grid => g.map((row) => [...row].reverse());
const turnClockwise = (g: Grid): Grid => g[0].map((_, x) => g.map((row) => row[x]).reverse());
const repeat = (n: number, f: (g: Grid) => Grid, g: Grid) => Array.from({ length: n }).reduce<Grid>((a) => f(a), g);
export const DISPLAY: Record<number, (g: Grid) => Grid> = {
  1: (g) => g,
  2: mirror, // mirrored horizontally
  3: (g) => repeat(2, turnClockwise, g), // rotated 180°
  4: (g) => repeat(2, turnClockwise, mirror(g)), // mirrored vertically
  5: (g) => repeat(3, turnClockwise, mirror(g)), // mirrored, then 270° clockwise
  6: turnClockwise, // 90° clockwise
  7: (g) => turnClockwise(mirror(g)), // mirrored, then 90° clockwise
  8: (g) => repeat(3, turnClockwise, g), // 270° clockwise
};
