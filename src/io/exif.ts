/**
 * The EXIF Orientation tag (0x0112 in IFD0) of a JPEG or PNG file, read from the raw bytes
 * (browser-safe; no decoding). Phones store a portrait photo as landscape pixels and say in this
 * tag how to turn them; browsers apply it by default, and so does lrdif (image.ts, orientImage).
 *
 * - JPEG: the first APP1 segment that starts with "Exif\0\0" holds a TIFF structure.
 * - PNG: the eXIf chunk (PNG 1.5) holds the TIFF structure directly.
 * - TIFF: "II*\0" (little-endian) or "MM\0*" (big-endian), then the offset of IFD0; each IFD entry
 *   is 12 bytes: tag (2), type (2), count (4), value or offset (4). Orientation is a SHORT (type 3)
 *   with count 1, its value in the first two bytes of the value field.
 *
 * A missing, truncated or malformed EXIF block, or a value outside 1…8, reads as 1 (as stored):
 * browsers ignore such blocks too, and the pixels themselves are still valid.
 */

const EXIF_HEADER = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"

/** Orientation in the TIFF structure `tiff` (a view starting at the byte-order mark); 1 when absent. */
export function tiffOrientation(tiff: Uint8Array): number {
  if (tiff.length < 8) return 1;
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  const big = tiff[0] === 0x4d && tiff[1] === 0x4d;
  if (!little && !big) return 1;
  const u16 = (o: number) => (little ? tiff[o] | (tiff[o + 1] << 8) : (tiff[o] << 8) | tiff[o + 1]);
  const u32 = (o: number) =>
    little ? (tiff[o] | (tiff[o + 1] << 8) | (tiff[o + 2] << 16)) + tiff[o + 3] * 2 ** 24 : tiff[o] * 2 ** 24 + ((tiff[o + 1] << 16) | (tiff[o + 2] << 8) | tiff[o + 3]);
  if (u16(2) !== 42) return 1;
  const ifd = u32(4);
  if (ifd < 8 || ifd + 2 > tiff.length) return 1;
  const n = u16(ifd);
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + 12 * k;
    if (e + 12 > tiff.length) return 1;
    if (u16(e) !== 0x0112) continue;
    if (u16(e + 2) !== 3 || u32(e + 4) < 1) return 1;
    const v = u16(e + 8);
    return v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

function jpegOrientation(b: Uint8Array): number {
  let o = 2;
  while (o + 4 <= b.length) {
    if (b[o] !== 0xff) return 1;
    const marker = b[o + 1];
    if (marker === 0xff) {
      o++; // fill byte
      continue;
    }
    // markers without a length: TEM, RSTn; SOS/EOI end the headers
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      o += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return 1;
    const len = (b[o + 2] << 8) | b[o + 3];
    if (len < 2 || o + 2 + len > b.length) return 1;
    if (marker === 0xe1 && len >= 2 + EXIF_HEADER.length + 8 && EXIF_HEADER.every((v, i) => b[o + 4 + i] === v)) {
      return tiffOrientation(b.subarray(o + 4 + EXIF_HEADER.length, o + 2 + len));
    }
    o += 2 + len;
  }
  return 1;
}

function pngOrientation(b: Uint8Array): number {
  let o = 8;
  while (o + 12 <= b.length) {
    const len = b[o] * 2 ** 24 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
    const type = String.fromCharCode(b[o + 4], b[o + 5], b[o + 6], b[o + 7]);
    if (o + 12 + len > b.length) return 1;
    if (type === 'eXIf') {
      const data = b.subarray(o + 8, o + 8 + len);
      // some writers keep the JPEG-style "Exif\0\0" prefix
      return tiffOrientation(EXIF_HEADER.every((v, i) => data[i] === v) ? data.subarray(EXIF_HEADER.length) : data);
    }
    if (type === 'IDAT' || type === 'IEND') return 1;
    o += 12 + len;
  }
  return 1;
}

/** The EXIF orientation (1…8) of JPEG or PNG bytes; 1 when there is none or it cannot be read. */
export function exifOrientation(bytes: Uint8Array): number {
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegOrientation(bytes);
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return pngOrientation(bytes);
  return 1;
}
