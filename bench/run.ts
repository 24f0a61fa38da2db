// `npm run bench`: every benchmark module in this folder, each measured against the real tools where one exists,
// with its figures printed as a table. Pass names to run some: `npm run bench -- inspection replay`.
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

type Bench = { run(): Promise<Record<string, number | string>> };

async function main(): Promise<void> {
  const dir = import.meta.dirname;
  const wanted = process.argv.slice(2);
  const names = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".js") && f !== "run.js")
    .map((f) => f.slice(0, -3))
    .filter((n) => !wanted.length || wanted.includes(n))
    .sort();
  const results: Record<string, Record<string, number | string>> = {};
  for (const name of names) {
    process.stderr.write(`bench ${name} ...\n`);
    const t0 = performance.now();
    try {
      const mod = (await import(pathToFileURL(path.join(dir, name + ".js")).href)) as Bench;
      results[name] = await mod.run();
    } catch (e) {
      results[name] = { error: (e as Error).message };
    }
    process.stderr.write(`bench ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  for (const [name, figures] of Object.entries(results)) {
    console.log(`\n== ${name}`);
    const w = Math.max(...Object.keys(figures).map((k) => k.length));
    for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(w)}  ${typeof v === "number" ? fmt(v) : v}`);
  }
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2) + "\n");
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
