// The debugger's word splitting: like a shell (quotes, backslash-free), with # comments. qemu-io's own commands
// are split as qemu-io splits them (breakline in qemu-io-commands.ts).

/** Splits a command line like a shell (quotes); comments start with #. */
export function splitLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      has = true;
    } else if (c === "#" && !has && cur === "") break;
    else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}
