// Lint: typescript-eslint's recommended rules, plus the house rule that imports point down only.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const layer = (from, forbidden) => ({
  files: [`${from}/**/*.ts`, `${from}/**/*.tsx`],
  rules: {
    "no-restricted-imports": ["error", { patterns: forbidden.map((f) => ({ group: [f], message: "imports point down only (docs/ARCHITECTURE.md)" })) }],
  },
});

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "samples/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  layer("engine", ["**/cli/**", "**/inspector/**", "ink", "react", "blessed", "blessed-contrib", "commander"]),
  layer("engine/format", ["../storage/*", "../image/*", "../events/*", "../check/*", "../workload/*", "../replay/*"]),
  layer("engine/events", ["../storage/*", "../image/*", "../format/*", "../check/*", "../workload/*", "../replay/*"]),
  layer("engine/units", ["../*/**", "../prng.js"]),
  layer("inspector", ["**/cli/**"]),
  { files: ["test/**/*.ts", "test/**/*.tsx", "bench/**/*.ts"], rules: { "@typescript-eslint/no-non-null-assertion": "off" } },
);
