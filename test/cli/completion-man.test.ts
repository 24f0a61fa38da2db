// `qcowdbg completion bash|zsh` and the man page, both made from the commands' own definitions: bash completes
// commands, options and option values in a real bash; the man page has a section per command and renders cleanly.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "dist/cli/main.js");
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
const COMMANDS = [...cli("--help").stdout.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]!).filter((c) => c !== "help");

/** What bash's completion offers for the words typed so far (the last one being completed). */
let script = "";
function complete(...words: string[]): string[] {
  script ||= cli("completion", "bash").stdout;
  const line = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _qcowdbg; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return spawnSync("bash", ["-c", line], { encoding: "utf8", cwd: path.join(ROOT, "samples/images") }).stdout.split("\n").filter(Boolean).sort();
}

describe("completion", () => {
  it("bash completes commands, options, option values and files", () => {
    expect(COMMANDS).toContain("completion");
    expect(complete("qcowdbg", "")).toEqual(expect.arrayContaining(COMMANDS));
    expect(complete("qcowdbg", "ma")).toEqual(["map"]);
    expect(complete("qcowdbg", "map", "--out")).toEqual(["--output"]);
    expect(complete("qcowdbg", "map", "--output", "")).toEqual(["human", "json"]);
    expect(complete("qcowdbg", "check", "-r", "")).toEqual(["all", "leaks"]);
    expect(complete("qcowdbg", "replay", "--chrome-t")).toEqual(["--chrome-trace"]);
    expect(complete("qcowdbg", "info", "tour.q")).toEqual(["tour.qcow2"]);
    expect(complete("qcowdbg", "completion", "")).toEqual(["bash", "zsh"]);
  });

  it("zsh gets a #compdef function naming every command and its options", () => {
    const z = cli("completion", "zsh").stdout;
    expect(z.startsWith("#compdef qcowdbg\n")).toBe(true);
    for (const c of COMMANDS) expect(z).toMatch(new RegExp(`^ {4}'${c}:|^ {4}${c}\\)`, "m"));
    expect(z).toContain("'(-r --repair)'{-r,--repair}'[leaks or all\\: repair");
  });

  it("refuses another shell in one line", () => {
    const r = cli("completion", "fish");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("qcowdbg: completion: shell must be bash or zsh, not 'fish'\n");
  });
});

const hasMan = spawnSync("man", ["--version"]).status === 0;

describe.skipIf(!hasMan)("man page (skipped without man-db)", () => {
  it("is generated from every command's help and renders without warnings", () => {
    execFileSync(process.execPath, [path.join(ROOT, "scripts/make-man.mjs")]);
    const roff = fs.readFileSync(path.join(ROOT, "dist/man/qcowdbg.1"), "utf8");
    expect([...roff.matchAll(/^\.SS (\S+)$/gm)].map((m) => m[1])).toEqual(COMMANDS);
    const r = spawnSync("man", ["-l", "-Tutf8", path.join(ROOT, "dist/man/qcowdbg.1")], { encoding: "utf8", env: { ...process.env, MANWIDTH: "100", MAN_KEEP_FORMATTING: "0" } });
    expect(r.stderr).toBe("");
    // man justifies and may embolden (overstrike) at any width: compare the words, not the layout.
    // eslint-disable-next-line no-control-regex -- backspace overstrike is what man prints for bold
    const words = r.stdout.replace(/.\x08/g, "").replace(/\s+/g, " ");
    expect(words).toContain("--image-opts");
    expect(words).toMatch(/leaks or all: repair the image in place/);
  });
});
