// Whether a line of text surely fits a cell, so that the cell can be drawn without clipping.
// A clipped box (overflow: hidden, needed for the ellipsis) is a paint chunk of its own: a screen of
// the runs table is ~800 cells, and clipping every one of them cost each scrolled frame ~1.5 ms of the
// browser's layerization.  So only a cell whose text may not fit is clipped.

let ctx: CanvasRenderingContext2D | null | undefined;
const fonts = new Map<string, string>();

function font(mono: boolean): string {
  const key = mono ? "mono" : "text";
  let f = fonts.get(key);
  if (f === undefined) {
    const family = getComputedStyle(document.documentElement).getPropertyValue(mono ? "--mono" : "--font").trim();
    f = `${mono ? 12.5 : 14}px ${family || (mono ? "monospace" : "sans-serif")}`;
    fonts.set(key, f);
  }
  return f;
}

/** True when ``text`` drawn in the table's font (``mono`` for numbers) is narrower than ``width`` px. */
export function fits(text: string, width: number, mono = false): boolean {
  const size = mono ? 12.5 : 14;
  if (text.length * size <= width) return true; // no glyph of a UI font is wider than 1 em
  if (ctx === undefined) ctx = document.createElement("canvas").getContext("2d");
  if (!ctx) return false;
  ctx.font = font(mono);
  return ctx.measureText(text).width + 1 <= width; // + 1: rounding of the layout's own measure
}
