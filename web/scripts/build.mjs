// Builds the gRPC-Web page: generates the TypeScript descriptors from ../proto with
// protoc-gen-es (through the npm `buf`), type-checks with tsc, then bundles src/main.ts with
// esbuild into app.js beside a copy of src/index.html.
//
// Usage: node scripts/build.mjs [--outdir DIR]   (default: ../target/web)

import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const at = args.indexOf("--outdir");
const outdir = resolve(at >= 0 ? args[at + 1] : join(web, "..", "target", "web"));

const bin = join(web, "node_modules", ".bin");
const run = (tool, ...args) =>
  execFileSync(join(bin, tool), args, {
    cwd: web,
    stdio: "inherit",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
run("buf", "generate", "../proto", "--template", "buf.gen.yaml");
run("tsc", "-p", ".");

mkdirSync(outdir, { recursive: true });
await esbuild.build({
  entryPoints: [join(web, "src", "main.ts")],
  outfile: join(outdir, "app.js"),
  bundle: true,
  format: "iife",
  target: "es2020",
  minify: true,
  sourcemap: false,
  logLevel: "warning",
});
copyFileSync(join(web, "src", "index.html"), join(outdir, "index.html"));
console.log(`built ${outdir}`);
