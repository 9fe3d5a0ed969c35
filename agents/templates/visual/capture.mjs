// pf-figma visual stage, step 2: open the rendered page in headless Chromium (playwright-core,
// Debian's /usr/bin/chromium, no browser download) and measure it. Writes what it saw; the
// scoring against the design happens in Python (pf_agents.visual).
//
//   node capture.mjs JOB.json
// JOB: {modules, chromium, args, page, out, pidFile, launchTimeoutMs, axe, designViewport,
//       widths, cases: [{id, paths: {figmaNodeId: "0.2"}, state: "hover" | null, shot}]}
// Exit codes: 0 measured (per-case errors inside), 3 the browser did not start or crashed.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const req = createRequire(path.join(job.modules, "package.json"));
const { chromium } = req("playwright-core");
const timings = {};
const clock = () => Date.now() / 1000;
let browser;

function fail(stage, e) {
  const msg = `${stage}: ${String(e && e.message ? e.message : e).split("\n").slice(0, 4).join(" ")}`;
  fs.writeFileSync(job.out, JSON.stringify({ browserError: msg.slice(0, 1500) }));
  process.stderr.write(msg + "\n");
  process.exit(3);
}

let t = clock();
try {
  browser = await chromium.launch({
    executablePath: job.chromium,
    args: job.args,
    headless: true,
    timeout: job.launchTimeoutMs,
    chromiumSandbox: false,
  });
} catch (e) {
  fail("chromium did not start", e);
}
try {
  const proc = browser.process && browser.process();
  if (proc && job.pidFile) fs.writeFileSync(job.pidFile, String(proc.pid));
} catch {}
let closing = false;
browser.on("disconnected", () => closing || fail("chromium exited", "the browser disconnected"));
timings.launch = clock() - t;

// ------------------------------------------------------------------ in-page measuring helpers
function pageHelpers() {
  const cv = document.createElement("canvas");
  cv.width = cv.height = 1;
  const ctx = cv.getContext("2d", { willReadFrequently: true });
  const rgba = (c) => {
    if (!c || c === "none" || c.startsWith("url(")) return null;
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = "rgba(0, 0, 0, 0)";
    ctx.fillStyle = c;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], Math.round((d[3] / 255) * 1000) / 1000];
  };
  const rootOf = (id) => {
    const frame = document.querySelector(`[data-case="${id}"] > .pfv-frame`);
    return frame ? frame.firstElementChild : null;
  };
  const ownText = (el) => {
    if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") return el.value || el.placeholder || "";
    return (el.textContent || "").replace(/\s+/g, " ").trim();
  };
  window.__pfv = {
    measure(id, paths) {
      const root = rootOf(id);
      if (!root) return { error: "the component rendered nothing" };
      const r0 = root.getBoundingClientRect();
      const nodes = {};
      for (const [nid, p] of Object.entries(paths)) {
        let el = root;
        if (p !== "") {
          for (const i of p.split(".")) {
            el = el ? el.children[Number(i)] : null;
          }
        }
        if (!el) {
          nodes[nid] = null;
          continue;
        }
        const r = el.getBoundingClientRect();
        const cs = getComputedStyle(el);
        const visible =
          el.checkVisibility({ opacityProperty: true, visibilityProperty: true }) &&
          (r.width > 0 || r.height > 0);
        let svgFill = null;
        if (el.tagName.toLowerCase() === "svg") {
          const shape = el.querySelector("path, rect, circle, ellipse, polygon");
          if (shape) svgFill = rgba(getComputedStyle(shape).fill);
        }
        nodes[nid] = {
          tag: el.tagName.toLowerCase(),
          box: [r.x - r0.x, r.y - r0.y, r.width, r.height].map((v) => Math.round(v * 100) / 100),
          visible,
          text: ownText(el),
          fontSize: parseFloat(cs.fontSize),
          fontWeight: Number(cs.fontWeight),
          color: rgba(cs.color),
          background: rgba(cs.backgroundColor),
          svgFill,
        };
      }
      // images the page could not load (a downloaded image fill that is not shown)
      const imgs = [...root.querySelectorAll("img")];
      const brokenImages = imgs
        .filter((img) => !img.complete || img.naturalWidth === 0)
        .map((img) => img.getAttribute("src") || "");
      return {
        variant: root.getAttribute("data-variant"),
        figmaNode: root.getAttribute("data-figma-node"),
        nodes,
        images: imgs.length,
        brokenImages,
      };
    },
    overflow(ids, width) {
      const out = {};
      for (const id of ids) {
        const frame = document.querySelector(`[data-case="${id}"] > .pfv-frame`);
        if (!frame || !frame.firstElementChild) continue;
        const root = frame.firstElementChild.getBoundingClientRect();
        const px = Math.max(frame.scrollWidth - frame.clientWidth, root.right - width, 0);
        out[id] = Math.round(px * 10) / 10;
      }
      return out;
    },
    setFrameWidths(auto) {
      for (const f of document.querySelectorAll(".pfv-frame")) {
        f.style.width = auto ? "auto" : f.dataset.width + "px";
      }
    },
  };
}

const result = { cases: {}, overflow: {}, axe: [], timings };
try {
  const context = await browser.newContext({
    viewport: { width: job.designViewport, height: 900 },
    deviceScaleFactor: 1,
    offline: true,
    reducedMotion: "reduce",
  });
  const page = await context.newPage();
  page.setDefaultTimeout(job.stepTimeoutMs || 30000);
  t = clock();
  await page.goto("file://" + job.page, { waitUntil: "load" });
  await page.evaluate(pageHelpers);
  await page.evaluate(() => document.fonts.ready.then(() => true));
  timings.load = clock() - t;

  // 1. the design width: each case in a frame as wide as its Figma root
  t = clock();
  const plain = job.cases.filter((c) => !c.state);
  const states = job.cases.filter((c) => c.state);
  const measured = await page.evaluate(
    (cases) => Object.fromEntries(cases.map((c) => [c.id, window.__pfv.measure(c.id, c.paths)])),
    plain,
  );
  Object.assign(result.cases, measured);
  result.overflow.design = await page.evaluate(
    ([ids, w]) => window.__pfv.overflow(ids, w),
    [plain.map((c) => c.id), 1e9],
  );
  timings.measure = clock() - t;

  // 2. accessibility (axe-core), before any state is forced; state copies are left out
  t = clock();
  if (job.axe) {
    await page.addScriptTag({ path: job.axe });
    result.axe = await page.evaluate(async () => {
      const off = [
        "region", "landmark-one-main", "page-has-heading-one", "bypass", "document-title",
        "html-has-lang", "duplicate-id", "duplicate-id-active", "duplicate-id-aria",
        "landmark-unique", "landmark-no-duplicate-banner", "landmark-no-duplicate-contentinfo",
        "landmark-no-duplicate-main", "landmark-main-is-top-level", "landmark-banner-is-top-level",
        "landmark-contentinfo-is-top-level", "landmark-complementary-is-top-level",
      ];
      const rules = Object.fromEntries(off.map((r) => [r, { enabled: false }]));
      const res = await window.axe.run(
        { exclude: [[".pfv-state"]] },
        { resultTypes: ["violations"], rules },
      );
      const out = [];
      for (const v of res.violations) {
        for (const n of v.nodes) {
          let el = null;
          try {
            el = typeof n.target[0] === "string" ? document.querySelector(n.target[0]) : null;
          } catch {}
          const sec = el ? el.closest("[data-case]") : null;
          out.push({
            rule: v.id,
            impact: n.impact || v.impact,
            help: v.help,
            case: sec ? sec.dataset.case : null,
            html: (n.html || "").slice(0, 160),
          });
        }
      }
      return out;
    });
  }
  timings.axe = clock() - t;

  // 3. interaction states: force the pseudo-class on the root (DevTools protocol)
  t = clock();
  if (states.length) {
    const cdp = await context.newCDPSession(page);
    await cdp.send("DOM.enable");
    await cdp.send("CSS.enable");
    const { root } = await cdp.send("DOM.getDocument", { depth: 0 });
    for (const c of states) {
      const { nodeId } = await cdp.send("DOM.querySelector", {
        nodeId: root.nodeId,
        selector: `[data-case="${c.id}"] > .pfv-frame > *`,
      });
      if (!nodeId) {
        result.cases[c.id] = { error: "the component rendered nothing" };
        continue;
      }
      if (c.state !== "disabled") {
        await cdp.send("CSS.forcePseudoState", { nodeId, forcedPseudoClasses: [c.state] });
      }
    }
    const m = await page.evaluate(
      (cases) => Object.fromEntries(cases.map((c) => [c.id, window.__pfv.measure(c.id, c.paths)])),
      states,
    );
    Object.assign(result.cases, m);
  }
  timings.states = clock() - t;

  // 4. screenshots at the design width: one DevTools capture per case, clipped to its frame
  //    in page coordinates (no scrolling, no waiting for stability: the page is static)
  t = clock();
  const shots = job.cases.filter((c) => c.shot && result.cases[c.id] && !result.cases[c.id].error);
  if (shots.length) {
    const cdp = await context.newCDPSession(page);
    const clips = await page.evaluate((ids) => Object.fromEntries(ids.map((id) => {
      const f = document.querySelector(`[data-case="${id}"] > .pfv-frame`);
      const r = f.getBoundingClientRect();
      return [id, { x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height }];
    })), shots.map((c) => c.id));
    for (const c of shots) {
      const clip = clips[c.id];
      clip.width = Math.max(1, Math.min(Math.ceil(clip.width), 4096));
      clip.height = Math.max(1, Math.min(Math.ceil(clip.height), 4096));
      try {
        const { data } = await cdp.send("Page.captureScreenshot", {
          format: "png",
          clip: { ...clip, scale: 1 },
          captureBeyondViewport: true,
        });
        fs.writeFileSync(c.shot, Buffer.from(data, "base64"));
      } catch (e) {
        result.cases[c.id].shotError = String(e.message || e).slice(0, 200);
      }
    }
  }
  timings.screenshots = clock() - t;

  // 5. horizontal overflow at each width (frames as wide as the viewport)
  t = clock();
  const ids = plain.map((c) => c.id);
  await page.evaluate(() => window.__pfv.setFrameWidths(true));
  for (const w of job.widths) {
    await page.setViewportSize({ width: w, height: 900 });
    result.overflow[w] = await page.evaluate(([ids, w]) => window.__pfv.overflow(ids, w), [ids, w]);
  }
  timings.widths = clock() - t;
  await context.close();
} catch (e) {
  fail("measuring failed", e);
}
closing = true;
fs.writeFileSync(job.out, JSON.stringify(result));
await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]);
process.exit(0);
