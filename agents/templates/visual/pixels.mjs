// pf-figma visual stage, step 3 (optional): pixel similarity of each render against Figma's own
// render of the same node (GET /v1/images/:key, fetched by analyze), with pixelmatch (count of
// pixels that differ beyond its perceptual threshold, anti-aliasing detected and ignored), and
// a side-by-side PNG: Figma | Chromium | diff (differing pixels red).
//
//   node pixels.mjs JOB.json
// JOB: {modules, out, threshold, pairs: [{id, figma, shot, width, scale, compare}]}
//   figma: Figma's PNG; shot: the stage's screenshot (design width); width: the design width in
//   CSS px; scale: the render's scale when analyze recorded it (else inferred from the widths);
//   compare: where the side-by-side goes (null: none).
// Writes {results: {id: {similarity, diffPixels, pixels, figmaSize, renderSize, scale} |
//   {error}}, seconds} to JOB.out. Both images are flattened on white (the page's background) and
//   padded with white to the larger of the two sizes: what one has and the other lacks differs.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const req = createRequire(path.join(job.modules, "package.json"));
const { PNG } = req("pngjs");
const pixelmatch = (await import(pathToFileURL(path.join(job.modules, "pixelmatch", "index.js")).href)).default;
const t0 = Date.now();
const GAP = 8;

function flatten(png) {
  // RGBA over white -> opaque RGBA
  const d = png.data;
  for (let i = 0; i < d.length; i += 4) {
    const a = d[i + 3] / 255;
    if (a === 1) continue;
    d[i] = Math.round(d[i] * a + 255 * (1 - a));
    d[i + 1] = Math.round(d[i + 1] * a + 255 * (1 - a));
    d[i + 2] = Math.round(d[i + 2] * a + 255 * (1 - a));
    d[i + 3] = 255;
  }
  return png;
}

function downscale(png, s) {
  // box filter: each target pixel averages the source pixels it covers (s >= 1)
  const w = Math.max(1, Math.round(png.width / s));
  const h = Math.max(1, Math.round(png.height / s));
  const out = new PNG({ width: w, height: h });
  const sx = png.width / w;
  const sy = png.height / h;
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor(y * sy);
    const y1 = Math.max(y0 + 1, Math.floor((y + 1) * sy));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor(x * sx);
      const x1 = Math.max(x0 + 1, Math.floor((x + 1) * sx));
      let r = 0, g = 0, b = 0, n = 0;
      for (let yy = y0; yy < y1; yy++) {
        for (let xx = x0; xx < x1; xx++) {
          const i = (yy * png.width + xx) * 4;
          r += png.data[i]; g += png.data[i + 1]; b += png.data[i + 2]; n++;
        }
      }
      const o = (y * w + x) * 4;
      out.data[o] = r / n; out.data[o + 1] = g / n; out.data[o + 2] = b / n; out.data[o + 3] = 255;
    }
  }
  return out;
}

function padTo(png, w, h) {
  if (png.width === w && png.height === h) return png.data;
  const out = Buffer.alloc(w * h * 4, 255);
  for (let y = 0; y < png.height; y++) {
    png.data.copy(out, y * w * 4, y * png.width * 4, (y + 1) * png.width * 4);
  }
  return out;
}

function sideBySide(parts, w, h) {
  const total = parts.length * w + (parts.length - 1) * GAP;
  const out = new PNG({ width: total, height: h });
  out.data.fill(255);
  parts.forEach((data, k) => {
    for (let y = 0; y < h; y++) {
      data.copy(out.data, (y * total + k * (w + GAP)) * 4, y * w * 4, (y + 1) * w * 4);
    }
  });
  // one PNG filter (Paeth) instead of trying all five per row: the same size, 40% less CPU
  return PNG.sync.write(out, { deflateLevel: 6, filterType: 4 });
}

const results = {};
for (const p of job.pairs) {
  try {
    let figma = flatten(PNG.sync.read(fs.readFileSync(p.figma)));
    const shot = flatten(PNG.sync.read(fs.readFileSync(p.shot)));
    const figmaSize = [figma.width, figma.height];
    let scale = p.scale;
    if (!scale) {
      // analyze did not say: the ratio of the widths (Figma renders at 1x unless asked)
      const r = p.width > 0 ? figma.width / p.width : 1;
      scale = Math.abs(r - Math.round(r)) < 0.05 && Math.round(r) >= 1 ? Math.round(r) : r;
    }
    if (scale > 1.01) figma = downscale(figma, scale);
    const w = Math.max(figma.width, shot.width);
    const h = Math.max(figma.height, shot.height);
    const a = padTo(figma, w, h);
    const b = padTo(shot, w, h);
    const diff = Buffer.alloc(w * h * 4);
    const diffPixels = pixelmatch(a, b, diff, w, h, {
      threshold: job.threshold ?? 0.1,
      includeAA: false,
      checkerboard: false,
    });
    results[p.id] = {
      similarity: Math.round((1 - diffPixels / (w * h)) * 10000) / 10000,
      diffPixels,
      pixels: w * h,
      figmaSize,
      renderSize: [shot.width, shot.height],
      scale: Math.round(scale * 1000) / 1000,
    };
    if (p.compare) fs.writeFileSync(p.compare, sideBySide([a, b, diff], w, h));
  } catch (e) {
    results[p.id] = { error: String(e && e.message ? e.message : e).slice(0, 300) };
  }
}
fs.writeFileSync(job.out, JSON.stringify({ results, seconds: (Date.now() - t0) / 1000 }));
