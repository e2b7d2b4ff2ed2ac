// The drawing pad: dark ink on a white canvas, drawn with mouse, pen or touch
// through pointer events. Every change is reported (at most once per frame)
// so the page can classify the digit while it is being drawn. The strokes'
// points are kept too: the network's input is drawn again from them with a
// brush sized to the digit (strokeWidthFor), not with the pad's marker.

import { strokeWidthFor } from './preprocess';

type Point = { x: number; y: number };

export const PAD_SIZE = 280;
/** The marker's diameter on screen. */
const BRUSH = 20;

export class DrawingPad {
  private readonly ctx: CanvasRenderingContext2D;
  private drawing = false;
  private last: Point | null = null;
  private paths: Point[][] = [];
  private scheduled = false;
  strokes = 0;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly onChange: () => void,
  ) {
    canvas.width = PAD_SIZE;
    canvas.height = PAD_SIZE;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('the drawing pad needs a 2D canvas context');
    this.ctx = ctx;
    this.clear();
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    for (const type of ['pointerup', 'pointercancel'] as const) {
      canvas.addEventListener(type, (e) => this.up(e));
    }
  }

  private point(e: PointerEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * PAD_SIZE) / r.width, y: ((e.clientY - r.top) * PAD_SIZE) / r.height };
  }

  private down(e: PointerEvent): void {
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.drawing = true;
    this.last = this.point(e);
    this.paths.push([this.last]);
    this.segment(this.last, this.last);
  }

  private move(e: PointerEvent): void {
    if (!this.drawing || !this.last) return;
    e.preventDefault();
    // Coalesced events keep fast strokes smooth where the browser batches them.
    const events = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    for (const ev of events.length > 0 ? events : [e]) {
      const p = this.point(ev);
      this.segment(this.last, p);
      this.paths[this.paths.length - 1]?.push(p);
      this.last = p;
    }
  }

  private up(e: PointerEvent): void {
    if (!this.drawing) return;
    this.drawing = false;
    this.last = null;
    this.strokes += 1;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    this.changed();
  }

  private segment(a: { x: number; y: number }, b: { x: number; y: number }): void {
    const ctx = this.ctx;
    ctx.strokeStyle = '#111';
    ctx.lineWidth = BRUSH;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x, b.y);
    ctx.stroke();
    this.changed();
  }

  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.onChange();
    });
  }

  clear(): void {
    this.ctx.fillStyle = '#fff';
    this.ctx.fillRect(0, 0, PAD_SIZE, PAD_SIZE);
    this.strokes = 0;
    this.paths = [];
    this.changed();
  }

  /** What the pad shows. */
  image(): ImageData {
    return this.ctx.getImageData(0, 0, PAD_SIZE, PAD_SIZE);
  }

  /** The strokes drawn again with a brush sized to the drawing: what the network reads. */
  inputImage(): ImageData {
    const canvas = document.createElement('canvas');
    canvas.width = PAD_SIZE;
    canvas.height = PAD_SIZE;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, PAD_SIZE, PAD_SIZE);
    const all = this.paths.flat();
    if (all.length > 0) {
      const xs = all.map((p) => p.x);
      const ys = all.map((p) => p.y);
      const extent = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
      ctx.strokeStyle = '#111';
      ctx.fillStyle = '#111';
      ctx.lineWidth = strokeWidthFor(extent);
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      for (const path of this.paths) {
        ctx.beginPath();
        ctx.moveTo(path[0].x, path[0].y);
        // A tap is a path of one point: a zero-length line with round caps is a dot.
        for (const p of path.length > 1 ? path.slice(1) : path) ctx.lineTo(p.x, p.y);
        ctx.stroke();
      }
    }
    return ctx.getImageData(0, 0, PAD_SIZE, PAD_SIZE);
  }
}
