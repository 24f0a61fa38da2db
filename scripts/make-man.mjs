// Writes dist/man/qcowdbg.1 from the commands' own --help (run from the built CLI), so the man page says what
// the program says. Run by `npm run build` and `prepare`; the package ships it and npm installs it as qcowdbg(1).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(root, "dist", "cli", "main.js");
const out = path.join(root, "dist", "man", "qcowdbg.1");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));

const help = (...args) => execFileSync(process.execPath, [cli, ...args, "--help"], { encoding: "utf8", env: { ...process.env, COLUMNS: "200" } });
/** roff text: backslashes and leading dots/quotes escaped. */
const esc = (s) => s.replace(/\\/g, "\\e").replace(/^([.'])/gm, "\\&$1").replace(/-/g, "\\-");

const top = help();
const commands = [...top.matchAll(/^ {2}(\S+) .*?\s{2,}(\S.*)$/gm)].filter((m) => top.indexOf(m[0]) > top.indexOf("Commands:") && m[1] !== "help");

/** A help text's Options: section as .TP entries; the rest (usage, description) as paragraphs. */
function section(text) {
  const lines = text.trimEnd().split("\n");
  const outl = [];
  let inOptions = false;
  let para = false; // inside a paragraph: commander wraps long descriptions over lines
  for (const line of lines) {
    if (!line.trim()) {
      para = false;
      continue;
    }
    if (/^(Options|Arguments):$/.test(line)) {
      outl.push(`.PP\n\\fB${line.slice(0, -1)}\\fR`);
      inOptions = true;
      continue;
    }
    const m = inOptions ? /^ {2}(\S.*?)\s{2,}(\S.*)$/.exec(line) : null;
    if (m) outl.push(`.TP\n.B ${esc(m[1])}\n${esc(m[2])}`);
    else if (inOptions && /^ {6,}\S/.test(line)) outl.push(esc(line.trim()));
    else if (line.startsWith("Usage: ")) outl.push(`.PP\n.B ${esc(line.slice(7))}`);
    else if (para) outl.push(esc(line.trim()));
    else {
      outl.push(`.PP\n${esc(line.trim())}`);
      para = true;
    }
  }
  return outl.join("\n");
}

const parts = [
  `.TH QCOWDBG 1 "" "qcowdbg ${pkg.version}" "User Commands"`,
  ".SH NAME",
  `qcowdbg \\- ${esc(pkg.description)}`,
  ".SH SYNOPSIS",
  ".B qcowdbg",
  "[\\fIoptions\\fR] \\fIcommand\\fR [\\fIargs\\fR]",
  ".SH DESCRIPTION",
  section(top.slice(0, top.indexOf("Commands:"))),
  ".SH COMMANDS",
  ...commands.map(([, name]) => `.SS ${name}\n${section(help(name))}`),
  ".SH ENVIRONMENT",
  ".TP\n.B NO_COLOR\nWhen set (not empty), the TUI uses no colour: bold, underline and inverse video only.",
  ".TP\n.B FORCE_COLOR\nSet to 1..3 for colour, 0 or false for none; wins over NO_COLOR.",
  ".SH EXIT STATUS",
  "0 on success; 1 on an error (one line on stderr); check: 2 corruptions, 3 leaked clusters only, as qemu\\-img check.",
  ".SH SEE ALSO",
  "qemu\\-img(1), qemu\\-io(1), blkparse(1), fio(1)",
  "",
];
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, parts.join("\n"));
