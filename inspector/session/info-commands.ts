// `info break|cache|l1|l2 N|refcount N|header|snapshots|position`: the debugger's and the image's state as
// text. Tables are read through image-peek, so asking never changes the caches being looked at.
import { entryOffset, isCopied } from "../../engine/format/l2-entry.js";
import { decodeSnapshotTable } from "../../engine/format/snapshot-table.js";
import type { ImageView } from "../../engine/image/image-view.js";
import { sizeToStr } from "../../engine/check/info.js";
import { INFO_TOPICS, SessionError, resolveWord } from "./command-table.js";
import { describeSpec, parseNumber } from "./breakpoint-spec.js";
import { headerRows } from "./header-view.js";
import { l2OffsetOf, peekL2Entry, RefcountPeeker } from "./image-peek.js";
import { l2EntryWords } from "./tables-view.js";
import type { Session } from "./session.js";
import { hex } from "../../engine/units/size-text.js";

const MAX_LINES = 1024;

function image(s: Session): ImageView {
  const img = s.image();
  if (!img) throw new SessionError("No image open.");
  return img;
}

export function infoCommand(s: Session, args: string[]): string[] {
  if (!args.length) throw new SessionError(`"info" must be followed by a topic: ${INFO_TOPICS.join(", ")}.`);
  const topic = resolveWord(args[0]!, INFO_TOPICS, "info command", "info");
  switch (topic) {
    case "break":
    case "breakpoints":
    case "watchpoints":
      return infoBreak(s, topic === "watchpoints");
    case "cache": {
      image(s);
      const out: string[] = [];
      for (const which of ["l2", "refcount"] as const) {
        const v = s.views.cachePane(which);
        out.push(`${v.title}:`, ...v.rows.filter((r) => !r.text.includes("(empty)")).map((r) => `  ${r.text}`));
      }
      return out;
    }
    case "l1":
      return infoL1(image(s));
    case "l2":
      return infoL2(image(s), parseNumber(args[1], "L1 index"));
    case "refcount":
      return infoRefcount(image(s), parseNumber(args[1], "host cluster index"));
    case "header":
      return headerRows(image(s)).map((r) => r.text);
    case "snapshots":
      return infoSnapshots(image(s));
    default:
      return s.whereLines();
  }
}

function infoBreak(s: Session, watchOnly: boolean): string[] {
  s.needTimeline("info break");
  const list = s.breakpoints().filter((b) => !watchOnly || b.bp.watch);
  if (!list.length) return [watchOnly ? "No watchpoints." : "No breakpoints or watchpoints."];
  const out = ["Num     Type           Enb Hits  What"];
  for (const { number, bp } of list)
    out.push(`${String(number).padEnd(8)}${(bp.watch ? "watchpoint" : "breakpoint").padEnd(15)}${bp.enabled ? "y" : "n"}   ${String(bp.hits).padEnd(6)}${describeSpec(bp.spec, bp.watch)}`);
  return out;
}

function infoL1(img: ImageView): string[] {
  const out = [`L1 table at ${hex(img.header.l1TableOffset)}, ${img.header.l1Size} entries (each maps ${(img.geo.l2Entries * img.clusterSize) / 1048576} MiB):`];
  let shown = 0;
  for (let i = 0; i < img.header.l1Size; i++) {
    const [hi, lo] = img.l1Entry(i);
    if (!hi && !lo) continue;
    if (++shown > MAX_LINES) {
      out.push("  ... (more entries; use info l2 N for one table)");
      break;
    }
    out.push(`  L1[${i}] = ${hex(entryOffset(hi, lo))}${isCopied(hi) ? " copied" : ""}`);
  }
  if (!shown) out.push("  (every entry is empty)");
  return out;
}

function infoL2(img: ImageView, l1: number): string[] {
  if (l1 >= img.header.l1Size) throw new SessionError(`L1 index ${l1} is past the L1 table (${img.header.l1Size} entries).`);
  const off = l2OffsetOf(img, l1);
  if (!off) return [`L1[${l1}] has no L2 table.`];
  const out = [`L2 table of L1[${l1}] at ${hex(off)} (${img.geo.l2Entries} entries):`];
  let shown = 0;
  for (let j = 0; j < img.geo.l2Entries; j++) {
    const e = peekL2Entry(img, l1, j)!;
    if (!e.hi && !e.lo && !e.alloc && !e.zero) continue;
    if (++shown > MAX_LINES) {
      out.push("  ... (more entries)");
      break;
    }
    const guest = (l1 * img.geo.l2Entries + j) * img.clusterSize;
    out.push(`  L2[${j}] guest ${hex(guest)}: ${l2EntryWords(img, e.hi, e.lo)}${e.slot >= 0 ? ` (cached, slot ${e.slot})` : ""}`);
  }
  if (!shown) out.push("  (every entry is empty)");
  return out;
}

function infoRefcount(img: ImageView, cluster: number): string[] {
  const p = new RefcountPeeker(img);
  const block = p.blockOffset(cluster);
  const ti = Math.floor(cluster / p.entriesPerBlock);
  const where = block ? `refblock ${hex(block)} (reftable[${ti}]), entry ${cluster % p.entriesPerBlock}` : `no refblock (reftable[${ti}] is empty)`;
  const cached = block ? img.refcountCache.peek(block) : -1;
  return [`refcount of host cluster ${cluster} (offset ${hex(cluster * img.clusterSize)}) = ${p.get(cluster)}`, `  ${where}${cached >= 0 ? `, cached in slot ${cached}` : ""}`];
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** `qemu-img snapshot -l`'s table (bdrv_snapshot_dump: local time, VM clock, icount), then where each L1 table is. */
function infoSnapshots(img: ImageView): string[] {
  if (!img.header.nbSnapshots) return ["There is no snapshot in this image."];
  const snaps = decodeSnapshotTable((b, o) => img.file.read(b, o), img.header, img.file.size(), img.filename);
  const out = ["Snapshot list:", `${"ID".padEnd(10)}${"TAG".padEnd(17)}${"VM SIZE".padStart(8)}${"DATE".padStart(20)}${"VM CLOCK".padStart(13)}${"ICOUNT".padStart(11)}`];
  for (const sn of snaps) {
    const d = new Date(sn.dateSec * 1000);
    const date = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
    const secs = Math.floor(sn.vmClockNsec / 1e9);
    const clock = `${pad2(Math.floor(secs / 3600))}:${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}.${String(Math.floor(sn.vmClockNsec / 1e6) % 1000).padStart(3, "0")}`;
    const size = sizeToStr(sn.vmStateSizeLarge ?? sn.vmStateSize);
    out.push(`${sn.id.padEnd(9)} ${sn.name.padEnd(16)} ${size.padStart(8)}${date.padStart(20)}${clock.padStart(13)}${(sn.icount === undefined ? "" : String(sn.icount)).padStart(11)}`);
  }
  out.push(`L1 tables: ${snaps.map((sn) => `${sn.id} at ${hex(sn.l1TableOffset)} (${sn.l1Size} entries)`).join(", ")}`);
  return out;
}
