// A guest request in a few words: "write 0x10000 +64K (tour.qemu-io:8)", and the short form the timeline
// pane lists.
import type { GuestRequest } from "../../engine/workload/guest-request.js";
import { sizeWords } from "./header-view.js";

const OPS: Record<string, string> = { read: "read", write: "write", flush: "flush", discard: "discard", "write-zeroes": "zero" };

export function requestShort(r: GuestRequest): string {
  const op = (OPS[r.op] ?? r.op).padEnd(7);
  if (r.op === "flush") return `${op}${r.fua ? " fua" : ""}`;
  const flags = `${r.fua ? " fua" : ""}${r.preflush ? " pre" : ""}${r.mayUnmap ? " unmap" : ""}${r.compressed ? " -c" : ""}`;
  return `${op} 0x${r.offset.toString(16).padStart(8, "0")} ${sizeWords(r.length).padStart(5)}${flags}`;
}

export function requestWords(r: GuestRequest): string {
  const what = r.op === "flush" ? "flush" : `${r.op} 0x${r.offset.toString(16)} +${sizeWords(r.length)}`;
  const flags = [r.fua && "fua", r.preflush && "preflush", r.mayUnmap && "unmap", r.compressed && "compressed", r.pattern !== undefined && `pattern 0x${r.pattern.toString(16)}`].filter(Boolean);
  return `${what}${flags.length ? ` [${flags.join(", ")}]` : ""} (${r.source})`;
}
