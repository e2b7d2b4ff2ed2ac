// The drawing pad's preprocessing, done the way the MNIST digits were made
// (LeCun et al.): the digit's bounding box is scaled so that its longer side
// is 20 pixels, keeping the aspect ratio, with anti-aliasing (area
// averaging), and the result is placed in a 28x28 field so that its centre of
// mass falls on the field's centre. A network trained on MNIST has never seen
// a digit that fills the frame or sits in a corner, so skipping any of these
// steps costs a lot of accuracy on hand-drawn digits.
//
// Positions are pixel indices, as in the MNIST description: the centre of
// mass is sum(v * x) / sum(v) over column indices x (and likewise for rows),
// and it goes to (14, 14). (The real MNIST test digits have theirs at
// (14.3, 14.2) on average, within the half pixel a whole-pixel shift allows.)

export const MNIST_SIZE = 28;
export const MNIST_BOX = 20;

/**
 * MNIST's strokes are about 2.5 of the 20 pixels of the digit's box, in
 * small and large handwriting alike. A brush of fixed width scaled with the
 * box would make a small digit a blob (a small 2 reads as 8), so the network's
 * input is drawn again from the stroke's centre line with a brush sized to
 * the drawing: with the centre line's longer side L, the inked box is L + w,
 * and w / (L + w) = 2.5 / 20 gives w = L / 7. At least 3 pad pixels, so a
 * dot stays visible.
 */
export const MNIST_STROKE = 2.5;
export function strokeWidthFor(centreLineExtent: number): number {
  const share = MNIST_STROKE / MNIST_BOX;
  return Math.max(3, (centreLineExtent * share) / (1 - share));
}

/** An image as canvas getImageData gives it (RGBA), or one grey byte per pixel. */
export interface PadImage {
  data: Uint8ClampedArray | Uint8Array;
  width: number;
  height: number;
}

export interface PreprocessOptions {
  /**
   * Ink fraction (of the brightest ink pixel) below which a pixel does not
   * count for the bounding box: anti-aliasing fringes and faint smudges would
   * otherwise widen it. They still count as ink inside the box.
   */
  threshold?: number;
}

/**
 * Ink per pixel in [0, 1]: RGBA is composited over white and converted to
 * luminance; the image is inverted when its border is bright (dark ink on
 * paper), so ink is always the bright part, as in MNIST.
 */
export function inkOf(image: PadImage): Float32Array {
  const { data, width, height } = image;
  const n = width * height;
  const channels = data.length / n;
  if (channels !== 1 && channels !== 4) {
    throw new Error(`preprocess: expected 1 or 4 bytes per pixel, got ${data.length} bytes for ${width}x${height}`);
  }
  const grey = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (channels === 1) {
      grey[i] = data[i] / 255;
    } else {
      const r = data[4 * i];
      const g = data[4 * i + 1];
      const b = data[4 * i + 2];
      const a = data[4 * i + 3] / 255;
      const lum = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
      // A transparent pixel is blank paper: composite over white.
      grey[i] = a * lum + (1 - a);
    }
  }
  // Transparent or white paper with dark ink is the usual canvas; a black
  // field with white ink (MNIST itself) is left as it is.
  let border = 0;
  let borderCount = 0;
  for (let x = 0; x < width; x++) {
    border += grey[x] + grey[(height - 1) * width + x];
    borderCount += 2;
  }
  for (let y = 0; y < height; y++) {
    border += grey[y * width] + grey[y * width + width - 1];
    borderCount += 2;
  }
  if (border / borderCount > 0.5) {
    for (let i = 0; i < n; i++) grey[i] = 1 - grey[i];
  }
  return grey;
}

/**
 * Area-averaging resampling along one axis: output pixel i averages the
 * source interval [i * inN / outN, (i + 1) * inN / outN), each source pixel
 * weighted by how much of it falls inside.
 */
function resampleAxis(
  src: Float32Array,
  inW: number,
  inH: number,
  outN: number,
  horizontal: boolean,
): Float32Array {
  const inN = horizontal ? inW : inH;
  const other = horizontal ? inH : inW;
  const outW = horizontal ? outN : inW;
  const out = new Float32Array(horizontal ? outN * inH : inW * outN);
  const step = inN / outN;
  for (let i = 0; i < outN; i++) {
    const a = i * step;
    const b = (i + 1) * step;
    for (let j = Math.floor(a); j < Math.min(inN, Math.ceil(b)); j++) {
      const w = Math.min(b, j + 1) - Math.max(a, j);
      if (w <= 0) continue;
      for (let o = 0; o < other; o++) {
        const s = horizontal ? src[o * inW + j] : src[j * inW + o];
        if (s === 0) continue;
        if (horizontal) out[o * outW + i] += (w / step) * s;
        else out[i * outW + o] += (w / step) * s;
      }
    }
  }
  return out;
}

/** Centre of mass of a w x h image, in pixel indices (column x, row y). */
export function centerOfMass(
  pixels: ArrayLike<number>,
  width: number,
  height: number,
): { x: number; y: number; mass: number } {
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = pixels[y * width + x];
      mass += v;
      mx += v * x;
      my += v * y;
    }
  }
  return mass > 0 ? { x: mx / mass, y: my / mass, mass } : { x: NaN, y: NaN, mass: 0 };
}

/**
 * The 28x28 MNIST-like image (floats in [0, 1], ink bright, row-major) of a
 * drawing, or null when nothing is drawn.
 */
export function preprocessDigit(image: PadImage, options: PreprocessOptions = {}): Float32Array<ArrayBuffer> | null {
  const { width, height } = image;
  const ink = inkOf(image);
  let peak = 0;
  for (let i = 0; i < ink.length; i++) peak = Math.max(peak, ink[i]);
  // Below a few percent of full ink the "drawing" is compression noise or a
  // tinted background, not a stroke.
  if (peak < 0.05) return null;
  const cut = peak * (options.threshold ?? 0.1);

  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > cut) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  // Crop to the box; the strokes' strength is normalised to the peak so a
  // faint pen and a strong one give the same digit.
  const crop = new Float32Array(bw * bh);
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      crop[y * bw + x] = Math.min(1, ink[(y0 + y) * width + x0 + x] / peak);
    }
  }

  const scale = MNIST_BOX / Math.max(bw, bh);
  const tw = Math.max(1, Math.min(MNIST_BOX, Math.round(bw * scale)));
  const th = Math.max(1, Math.min(MNIST_BOX, Math.round(bh * scale)));
  const small = resampleAxis(resampleAxis(crop, bw, bh, tw, true), tw, bh, th, false);

  // A stroke thinner than the scaled pixel comes out grey; MNIST strokes are
  // saturated at their core, so stretch the result back to a peak of 1.
  let smallPeak = 0;
  for (let i = 0; i < small.length; i++) smallPeak = Math.max(smallPeak, small[i]);
  for (let i = 0; i < small.length; i++) small[i] = Math.min(1, small[i] / smallPeak);

  // Whole-pixel shift that puts the centre of mass nearest (14, 14); the
  // remaining offset is at most half a pixel per axis. A digit whose mass is
  // far off its box's centre may lose a sliver at the edge, as in MNIST.
  const com = centerOfMass(small, tw, th);
  const dx = Math.round(MNIST_SIZE / 2 - com.x);
  const dy = Math.round(MNIST_SIZE / 2 - com.y);
  const out = new Float32Array(MNIST_SIZE * MNIST_SIZE);
  for (let y = 0; y < th; y++) {
    const oy = y + dy;
    if (oy < 0 || oy >= MNIST_SIZE) continue;
    for (let x = 0; x < tw; x++) {
      const ox = x + dx;
      if (ox < 0 || ox >= MNIST_SIZE) continue;
      out[oy * MNIST_SIZE + ox] = small[y * tw + x];
    }
  }
  return out;
}
