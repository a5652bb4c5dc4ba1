// The extension bundle (dist/extension.js, `vscode` external) and, with --tests, the test bundles
// (out/test/*.js) that `node --test` runs.
import * as esbuild from "esbuild";

const production = process.argv.includes("--production");
const tests = process.argv.includes("--tests");
const common = { bundle: true, platform: "node", format: "cjs", target: "node18", logLevel: "warning" };

await esbuild.build({
  ...common,
  entryPoints: ["src/extension.ts"],
  outfile: "dist/extension.js",
  external: ["vscode"],
  minify: production,
  sourcemap: !production,
});
if (tests) {
  await esbuild.build({
    ...common,
    entryPoints: ["src/test/unit.test.ts", "src/test/e2e.test.ts"],
    outdir: "out/test",
    sourcemap: "inline",
  });
}
