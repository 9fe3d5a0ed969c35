"""The generated Next.js project around the components: package.json, configs, page, stories,
shadcn/ui primitives (written into the project so it needs no shadcn CLI or network)."""

from __future__ import annotations

import json
from typing import Any

from .generate import ComponentManifest, GeneratedComponent, js_str

# Versions pinned to releases that install and work together on Node 20.
DEPENDENCIES = {
    "next": "15.5.4",
    "react": "19.1.1",
    "react-dom": "19.1.1",
    "class-variance-authority": "0.7.1",
    "clsx": "2.1.1",
    "tailwind-merge": "3.3.1",
}
DEV_DEPENDENCIES = {
    "typescript": "5.9.3",
    "@types/node": "20.19.9",
    "@types/react": "19.1.12",
    "@types/react-dom": "19.1.9",
    "tailwindcss": "3.4.17",
    "postcss": "8.5.6",
    "autoprefixer": "10.4.21",
    "vitest": "3.2.4",
    "vite": "7.1.5",
    "jsdom": "26.1.0",
    "@testing-library/react": "16.3.0",
    "@testing-library/dom": "10.4.1",
    "@testing-library/jest-dom": "6.8.0",
    "storybook": "9.1.10",
    "@storybook/react": "9.1.10",
    "@storybook/react-vite": "9.1.10",
}


def package_json(name: str, storybook: bool = True) -> dict[str, Any]:
    dev = dict(DEV_DEPENDENCIES)
    scripts = {
        "dev": "next dev",
        "build": "next build",
        "start": "next start",
        "typecheck": "tsc --noEmit",
        "test": "vitest run",
    }
    if storybook:
        scripts["storybook"] = "storybook dev -p 6006"
    else:
        for k in ("storybook", "@storybook/react", "@storybook/react-vite"):
            dev.pop(k)
    return {
        "name": name,
        "version": "0.1.0",
        "private": True,
        "scripts": scripts,
        "dependencies": dict(DEPENDENCIES),
        "devDependencies": dev,
    }


TSCONFIG = {
    "compilerOptions": {
        "target": "ES2020",
        "lib": ["dom", "dom.iterable", "esnext"],
        "allowJs": False,
        "skipLibCheck": True,
        "strict": True,
        "noEmit": True,
        "esModuleInterop": True,
        "module": "esnext",
        "moduleResolution": "bundler",
        "resolveJsonModule": True,
        "isolatedModules": True,
        "jsx": "preserve",
        "incremental": False,
        "plugins": [{"name": "next"}],
        "paths": {"@/*": ["./*"]},
    },
    "include": ["next-env.d.ts", "**/*.ts", "**/*.tsx"],
    "exclude": ["node_modules"],
}

UTILS_TS = """import { clsx, type ClassValue } from "clsx";
import { twMerge } from "tailwind-merge";

export function cn(...inputs: ClassValue[]) {
  return twMerge(clsx(inputs));
}
"""

UI_BUTTON = """import * as React from "react";
import { cva, type VariantProps } from "class-variance-authority";
import { cn } from "../../lib/utils";

// shadcn/ui button, trimmed: colours and sizes come from the design via className.
const buttonVariants = cva(
  "inline-flex items-center justify-center whitespace-nowrap transition-colors focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-offset-2 disabled:pointer-events-none",
  {
    variants: {
      variant: { default: "", ghost: "bg-transparent", link: "underline-offset-4 hover:underline" },
    },
    defaultVariants: { variant: "default" },
  },
);

export interface ButtonProps
  extends React.ButtonHTMLAttributes<HTMLButtonElement>,
    VariantProps<typeof buttonVariants> {}

const Button = React.forwardRef<HTMLButtonElement, ButtonProps>(
  ({ className, variant, type = "button", ...props }, ref) => (
    <button ref={ref} type={type} className={cn(buttonVariants({ variant }), className)} {...props} />
  ),
);
Button.displayName = "Button";

export { Button, buttonVariants };
"""

UI_INPUT = """import * as React from "react";
import { cn } from "../../lib/utils";

// shadcn/ui input, trimmed: colours and sizes come from the design via className.
const Input = React.forwardRef<HTMLInputElement, React.ComponentProps<"input">>(
  ({ className, type = "text", ...props }, ref) => (
    <input
      ref={ref}
      type={type}
      className={cn(
        "flex w-full bg-transparent focus-visible:outline-none focus-visible:ring-2 disabled:cursor-not-allowed disabled:opacity-50",
        className,
      )}
      {...props}
    />
  ),
);
Input.displayName = "Input";

export { Input };
"""

UI_CARD = """import * as React from "react";
import { cn } from "../../lib/utils";

// shadcn/ui card, trimmed: colours and sizes come from the design via className.
const Card = React.forwardRef<HTMLDivElement, React.HTMLAttributes<HTMLDivElement>>(
  ({ className, ...props }, ref) => <div ref={ref} className={cn("block", className)} {...props} />,
);
Card.displayName = "Card";

const CardContent = React.forwardRef<HTMLDivElement, React.HTMLAttributes<HTMLDivElement>>(
  ({ className, ...props }, ref) => <div ref={ref} className={cn(className)} {...props} />,
);
CardContent.displayName = "CardContent";

export { Card, CardContent };
"""

UI_BADGE = """import * as React from "react";
import { cva, type VariantProps } from "class-variance-authority";
import { cn } from "../../lib/utils";

// shadcn/ui badge, trimmed: colours and sizes come from the design via className.
const badgeVariants = cva("inline-flex items-center", {
  variants: { variant: { default: "", outline: "border" } },
  defaultVariants: { variant: "default" },
});

export interface BadgeProps
  extends React.HTMLAttributes<HTMLDivElement>,
    VariantProps<typeof badgeVariants> {}

function Badge({ className, variant, ...props }: BadgeProps) {
  return <div className={cn(badgeVariants({ variant }), className)} {...props} />;
}

export { Badge, badgeVariants };
"""

UI_FILES = {"button": UI_BUTTON, "input": UI_INPUT, "card": UI_CARD, "badge": UI_BADGE}

VITEST_CONFIG = """import { defineConfig } from "vitest/config";

export default defineConfig({
  cacheDir: ".vite",
  esbuild: { jsx: "automatic" },
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
"""

POSTCSS = """const config = {
  plugins: {
    tailwindcss: {},
    autoprefixer: {},
  },
};

export default config;
"""

GLOBALS_CSS = """@tailwind base;
@tailwind components;
@tailwind utilities;
"""

LAYOUT = """import type { Metadata } from "next";
import "./globals.css";

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

STORYBOOK_MAIN = """// Storybook (React + Vite). Run: npm run storybook
const config = {
  stories: ["../components/**/*.stories.@(ts|tsx)"],
  framework: { name: "@storybook/react-vite", options: {} },
};

export default config;
"""

STORYBOOK_PREVIEW = """import "../app/globals.css";

const preview = { parameters: { layout: "centered" } };

export default preview;
"""

GITIGNORE = "node_modules/\n.vite/\n.next/\nout/\nstorybook-static/\n*.tsbuildinfo\n"


def tailwind_config(extend: dict[str, Any]) -> str:
    body = json.dumps(extend, indent=2, ensure_ascii=False).replace("\n", "\n  ")
    return (
        'import type { Config } from "tailwindcss";\n\n'
        "// Theme extension generated from the design tokens (tokens/tokens.json, W3C DTCG);\n"
        "// the same data as tokens/tailwind-theme.json.\n"
        "const config: Config = {\n"
        '  content: ["./app/**/*.{ts,tsx}", "./components/**/*.{ts,tsx}"],\n'
        f"  theme: {{\n    extend: {body.replace(chr(10), chr(10) + '  ')},\n  }},\n"
        "  plugins: [],\n"
        "};\n\n"
        "export default config;\n"
    )


def stories(comp: GeneratedComponent) -> str:
    m = comp.manifest
    ident = m.ident
    lines = [
        'import type { Meta, StoryObj } from "@storybook/react-vite";',
        f'import {{ {ident} }} from "./{ident}";',
        "",
        "const meta = {",
        f"  title: {js_str(('Components/' if m.kind != 'frame' else 'Frames/') + ident)},",
        f"  component: {ident},",
    ]
    var_props = [p for p in m.props if p.kind == "variant"]
    if var_props:
        lines.append("  argTypes: {")
        for p in var_props:
            opts = ", ".join(js_str(o) for o in p.options)
            lines.append(f"    {p.ident}: {{ control: \"select\", options: [{opts}] }},")
        lines.append("  },")
    lines += [
        f"}} satisfies Meta<typeof {ident}>;",
        "",
        "export default meta;",
        "type Story = StoryObj<typeof meta>;",
        "",
        "export const Default: Story = {};",
    ]
    used = {"Default", "meta"}
    for chk in m.variantChecks:
        ((prop, value),) = chk.props.items()
        from .names import pascal_case

        name = pascal_case(f"{prop} {value}", fallback="Variant")
        if name in used:
            continue
        used.add(name)
        lines.append(f"export const {name}: Story = {{ args: {{ {prop}: {js_str(value)} }} }};")
    return "\n".join(lines) + "\n"


def page(manifests: list[ComponentManifest], title: str) -> str:
    lines = []
    for m in manifests:
        lines.append(f'import {{ {m.ident} }} from "../components/{m.ident}";')
    lines += [
        "",
        "export default function Page() {",
        "  return (",
        '    <main className="flex flex-col gap-[48px] p-[32px]">',
        f"      <h1 className=\"text-[24px] font-bold\">{{{js_str(title)}}}</h1>",
    ]
    for m in manifests:
        lines += [
            f"      <section className=\"flex flex-col gap-[12px]\" id={js_str(m.ident)}>",
            f"        <h2 className=\"text-[14px] font-semibold\">{{{js_str(m.ident)}}}</h2>",
            f"        <{m.ident} />",
            "      </section>",
        ]
    lines += ["    </main>", "  );", "}", ""]
    return "\n".join(lines)


def project_files(
    *,
    name: str,
    title: str,
    components: list[GeneratedComponent],
    dtcg: dict[str, Any],
    tailwind_extend: dict[str, Any],
    storybook: bool = True,
) -> dict[str, str]:
    from .names import slug

    files: dict[str, str] = {}
    files["package.json"] = json.dumps(package_json(slug(name, "pf-figma-app"), storybook),
                                       indent=2) + "\n"
    files["tsconfig.json"] = json.dumps(TSCONFIG, indent=2) + "\n"
    files["next-env.d.ts"] = NEXT_ENV
    files["next.config.mjs"] = NEXT_CONFIG
    files["postcss.config.mjs"] = POSTCSS
    files["tailwind.config.ts"] = tailwind_config(tailwind_extend)
    files["tokens/tokens.json"] = json.dumps(dtcg, indent=2, ensure_ascii=False) + "\n"
    files["tokens/tailwind-theme.json"] = json.dumps(tailwind_extend, indent=2,
                                                     ensure_ascii=False) + "\n"
    files["vitest.config.mts"] = VITEST_CONFIG
    files["vitest.setup.ts"] = VITEST_SETUP
    files["lib/utils.ts"] = UTILS_TS
    files["app/globals.css"] = GLOBALS_CSS
    files["app/layout.tsx"] = LAYOUT.replace("TITLE", js_str(title))
    files["app/page.tsx"] = page([c.manifest for c in components], title)
    files[".gitignore"] = GITIGNORE
    used_ui: set[str] = set()
    for c in components:
        files[f"components/{c.ident}.tsx"] = c.source
        used_ui.update(c.manifest.ui)
        if storybook:
            files[f"components/{c.ident}.stories.tsx"] = stories(c)
    for kind in sorted(used_ui):
        files[f"components/ui/{kind}.tsx"] = UI_FILES[kind]
    if storybook:
        files[".storybook/main.ts"] = STORYBOOK_MAIN
        files[".storybook/preview.ts"] = STORYBOOK_PREVIEW
    files["README.md"] = (
        f"# {title}\n\nGenerated by pf-figma from a Figma design.\n\n"
        "```sh\nnpm install\nnpm run dev        # the page shows every component\n"
        "npm run typecheck\nnpm test\n" + ("npm run storybook\n" if storybook else "") + "```\n\n"
        "Design tokens: `tokens/tokens.json` (W3C Design Tokens format); the Tailwind theme "
        "extension generated from them: `tokens/tailwind-theme.json`.\n"
    )
    return files
