// pf-figma visual stage: appended to the generated entry (which defines `loaders` and `cases`).
// Each component module is imported lazily and each case rendered in its own try/catch, so a
// component that throws (on import or while rendering) fails only its own cases.
export async function renderAll() {
  const out: Record<string, { html?: string; error?: string }> = {};
  const mods: Record<string, Record<string, unknown> | Error> = {};
  for (const [id, file, name, props] of cases) {
    if (!(file in mods)) {
      try {
        mods[file] = await loaders[file]();
      } catch (e) {
        mods[file] = e instanceof Error ? e : new Error(String(e));
      }
    }
    const mod = mods[file];
    if (mod instanceof Error) {
      out[id] = { error: `import: ${mod.message}` };
      continue;
    }
    const Comp = (mod[name] ?? mod.default) as React.ComponentType<any> | undefined;
    if (typeof Comp !== "function" && typeof Comp !== "object") {
      out[id] = { error: `no export ${name} in ${file}` };
      continue;
    }
    try {
      out[id] = { html: renderToStaticMarkup(React.createElement(Comp, props)) };
    } catch (e) {
      out[id] = { error: String((e as Error)?.stack ?? e).slice(0, 600) };
    }
  }
  return out;
}
