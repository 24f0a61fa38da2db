// Runs one `qemu-img convert` (arguments from compare.ts convertArgs) without blocking the thread, in the converted
// copies' worker (baseline-aside.ts): apart from compare.ts so that the worker loads nothing of the engine.
import { spawn } from "node:child_process";

/** Runs `qemu-img` with convertArgs' arguments; resolves to the copy's path, or rejects with qemu-img's first line of error. */
export function runConvert(a: { args: string[]; out: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("qemu-img", a.args, { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (text += d.toString("utf8")));
    child.on("error", (e) => reject(new Error(`qemu-img convert: ${e.message}`)));
    child.on("close", (code) => (code === 0 ? resolve(a.out) : reject(new Error(`qemu-img convert failed: ${text.trim().split("\n")[0]}`))));
  });
}
