// pf-figma visual stage, step 1 (Node.js, in the generated project): bundle the render entry
// written by pf_agents.visual with the project's own esbuild, render every case with
// react-dom/server (one try/catch per case: a component that throws gets its own error), and
// compile the project's Tailwind CSS (app/globals.css) with its own @tailwindcss/postcss.
//
//   node prepare.mjs JOB.json      JOB: {project, entry, bundle, fragments, css, cssIn}
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const req = createRequire(path.join(job.project, "package.json"));
const t0 = Date.now();
const timings = {};

const esbuild = req("esbuild");
try {
  await esbuild.build({
    entryPoints: [job.entry],
    bundle: true,
    platform: "node",
    format: "esm",
    jsx: "automatic",
    outfile: job.bundle,
    logLevel: "silent",
    absWorkingDir: job.project,
    nodePaths: [path.join(job.project, "node_modules")],
    define: { "process.env.NODE_ENV": '"production"' },
    banner: { js: "import { createRequire as __pfReq } from 'node:module'; const require = __pfReq(import.meta.url);" },
  });
} catch (e) {
  const msg = (e.errors || []).map((x) => `${x.location ? x.location.file + ":" + x.location.line + ": " : ""}${x.text}`).join("; ");
  fs.writeFileSync(job.fragments, JSON.stringify({ bundleError: (msg || String(e)).slice(0, 2000) }));
  process.exit(0);
}
timings.bundle = (Date.now() - t0) / 1000;

const t1 = Date.now();
const mod = await import(pathToFileURL(job.bundle).href);
const fragments = await mod.renderAll();
timings.render = (Date.now() - t1) / 1000;

const t2 = Date.now();
let css = "";
let cssError = null;
try {
  const postcss = req("postcss");
  const tailwind = req("@tailwindcss/postcss");
  const input = fs.readFileSync(job.cssIn, "utf8");
  const out = await postcss([tailwind({ base: job.project })]).process(input, { from: job.cssIn });
  css = out.css;
} catch (e) {
  cssError = String(e && e.message ? e.message : e).slice(0, 1000);
}
// Assets from public/ (downloaded image fills): next/image points at /_next/image?url=...
// (its optimizer) and CSS at url(/figma/...), both served by `next start`; the page here is a
// file, so they point at the project's public/ directory instead.
const publicDir = pathToFileURL(path.join(job.project, "public")).href;
const optimized = /\/_next\/image\?url=([^&"\s]+)(?:&amp;|&)w=\d+(?:&amp;|&)q=\d+/g;
const toPublic = (text) =>
  text
    .replace(optimized, (_, url) => publicDir + decodeURIComponent(url))
    .replace(/(src="|url\(["']?)\/(?!\/)/g, (_, lead) => lead + publicDir + "/");
for (const frag of Object.values(fragments)) {
  if (frag && typeof frag.html === "string") frag.html = toPublic(frag.html);
}
css = toPublic(css);
fs.writeFileSync(job.css, css);
timings.css = (Date.now() - t2) / 1000;
fs.writeFileSync(job.fragments, JSON.stringify({ fragments, cssError, timings }));
