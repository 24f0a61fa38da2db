// QEMU's own trace log (the "log" backend: `name key value key value ...`, optionally `PID@SEC.USEC:` first)
// -> guest requests. Arguments are found by NAME, never by position: their types and order change across
// QEMU versions. qcow2_* and every other event are ignored.
//
// One guest request shows up at several layers (virtio_blk_handle_*, then blk_co_*, then bdrv_co_* for every
// node down to the file). A first pass over the head of the log picks the highest layer present, and - unless
// a device is asked for - the one device of that layer the guest used (qemu-io's probe read of the header, for
// instance, comes through a throw-away BlockBackend).
import type { GuestOp, GuestRequest } from "./guest-request.js";
import { LineReader } from "./line-reader.js";
import type { ParseContext } from "./trace-error.js";

type Layer = "virtio" | "blk" | "bdrv";
const LAYERS: Layer[] = ["virtio", "blk", "bdrv"];
const LINE = /^(?:(\d+)@(\d+)\.(\d+):)?([A-Za-z_][A-Za-z0-9_]*)(?:\s+(.*))?$/;
const EVENT = /^(virtio_blk_handle_|blk_co_|blk_aio_|bdrv_co_|bdrv_aio_)(read|readv|preadv|preadv_part|write|writev|pwritev|pwritev_part|pwrite_zeroes|write_zeroes|pdiscard|discard|flush)$/;
const LAYER_OF: Record<string, Layer> = { virtio_blk_handle_: "virtio", blk_co_: "blk", blk_aio_: "blk", bdrv_co_: "bdrv", bdrv_aio_: "bdrv" };
const DEVICE_ARG: Record<Layer, string> = { virtio: "vdev", blk: "blk", bdrv: "bs" };
// BdrvRequestFlags (include/block/block-common.h, QEMU 7.2)
const REQ_ZERO_WRITE = 0x2, REQ_MAY_UNMAP = 0x4, REQ_FUA = 0x10, REQ_WRITE_COMPRESSED = 0x20;
/** How much of the log the first pass reads to choose the layer and device. */
const PRESCAN_LINES = 200_000;

interface Event {
  layer: Layer;
  op: GuestOp;
}

function classify(name: string): Event | null {
  const m = EVENT.exec(name);
  if (!m) return null;
  const verb = m[2]!;
  const op: GuestOp = verb.includes("read") ? "read" : verb.includes("zeroes") ? "write-zeroes" : verb.includes("write") ? "write" : verb.includes("discard") ? "discard" : "flush";
  return { layer: LAYER_OF[m[1]!]!, op };
}

function args(rest: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!rest) return out;
  const w = rest.trim().split(/\s+/);
  for (let i = 0; i + 1 < w.length; i += 2) out.set(w[i]!, w[i + 1]!);
  return out;
}

function num(s: string | undefined): number | null {
  if (s === undefined) return null;
  const v = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s.slice(2), 16) : /^\d+$/.test(s) ? Number(s) : NaN;
  return Number.isSafeInteger(v) ? v : null;
}

interface Choice {
  layer: Layer | null;
  device: string | null;
}

interface Tally {
  events: number;
  /** Requests not on 512-byte boundaries: metadata I/O of a format driver, never a virtio guest's. */
  unaligned: number;
}

/**
 * First pass: the highest layer present and its busiest device. At the bdrv layer every node of the graph logs,
 * and the guest's node is told from the nodes below it by its requests being sector-aligned (a qcow2 node's
 * file child also sees 8-byte table entry updates and header reads): fewest unaligned requests, then most events.
 */
function choose(ctx: ParseContext, wantDevice: boolean): Choice {
  const tallies: Record<Layer, Map<string, Tally>> = { virtio: new Map(), blk: new Map(), bdrv: new Map() };
  const reader = new LineReader(ctx.path);
  for (const line of reader.lines()) {
    if (reader.lineNo > PRESCAN_LINES) break;
    const m = LINE.exec(line);
    const ev = m ? classify(m[4]!) : null;
    if (!ev) continue;
    const a = args(m![5]);
    const dev = a.get(DEVICE_ARG[ev.layer]) ?? "";
    let t = tallies[ev.layer].get(dev);
    if (!t) {
      t = { events: 0, unaligned: 0 };
      tallies[ev.layer].set(dev, t);
    }
    t.events++;
    const off = num(a.get("offset")), len = num(a.get("bytes"));
    if ((off !== null && off % 512 !== 0) || (len !== null && len % 512 !== 0)) t.unaligned++;
  }
  const layer = LAYERS.find((l) => tallies[l].size > 0) ?? null;
  if (!layer) return { layer: null, device: null };
  // Above the bdrv layer every request is the guest's: unaligned ones too (qemu-io can issue them).
  const byAlignment = layer === "bdrv" ? 1 : 0;
  const ranked = [...tallies[layer]].sort((x, y) => byAlignment * (x[1].unaligned - y[1].unaligned) || y[1].events - x[1].events);
  const others = LAYERS.filter((l) => l !== layer && tallies[l].size > 0);
  if (others.length > 0) ctx.notice(`${ctx.path}: guest requests taken from the ${layer} events; ${others.join(" and ")} events repeat them below and are ignored`);
  if (wantDevice || ranked.length === 1) return { layer, device: null };
  const list = ranked.map(([d, t]) => `${d} (${t.events} events${t.unaligned ? `, ${t.unaligned} unaligned` : ""})`).join(", ");
  ctx.notice(`${ctx.path}: ${ranked.length} ${DEVICE_ARG[layer]} values in the ${layer} events: ${list}; using ${ranked[0]![0]}, choose another with --device`);
  return { layer, device: ranked[0]![0] };
}

export function* parseQemuTraceLog(ctx: ParseContext, opts: { device?: string }): Generator<GuestRequest> {
  const choice = choose(ctx, opts.device !== undefined);
  if (!choice.layer) {
    ctx.notice(`${ctx.path}: no guest request events (virtio_blk_handle_*, blk_co_*, bdrv_co_*) in the first ${PRESCAN_LINES} lines`);
    return;
  }
  const reader = new LineReader(ctx.path);
  let index = 0;
  let baseSec = -1, baseUsec = 0;
  for (const line of reader.lines()) {
    ctx.stats.lines++;
    const no = reader.lineNo;
    const m = LINE.exec(line);
    if (!m) continue; // program output mixed into the log
    if (m[1] !== undefined && baseSec < 0) {
      baseSec = Number(m[2]);
      baseUsec = Number(m[3]!.padEnd(6, "0"));
    }
    const ev = classify(m[4]!);
    if (!ev || ev.layer !== choice.layer) continue;
    const a = args(m[5]);
    const device = a.get(DEVICE_ARG[ev.layer]);
    if (choice.device !== null && device !== choice.device) continue;
    const flags = a.has("flags") ? num(a.get("flags")) : 0;
    if (flags === null) {
      ctx.bad(no, `${m[4]}: flags "${a.get("flags")}" is not a number`);
      continue;
    }
    let op = ev.op;
    let offset = 0, length = 0;
    if (op !== "flush") {
      const sector = num(a.get("sector"));
      const off = a.has("offset") ? num(a.get("offset")) : sector !== null ? sector * 512 : null;
      const nsec = num(a.get("nsectors") ?? a.get("nb_sectors"));
      const len = num(a.get("bytes") ?? a.get("count") ?? a.get("len") ?? a.get("size")) ?? (nsec !== null ? nsec * 512 : null);
      if (off === null || len === null) {
        ctx.bad(no, `${m[4]}: needs offset/sector and bytes/nsectors arguments`);
        continue;
      }
      if (!Number.isSafeInteger(off + len)) {
        ctx.bad(no, `${m[4]}: offset + length is too large`);
        continue;
      }
      offset = off;
      length = len;
      if (length === 0) continue;
      if (op === "write" && flags & REQ_ZERO_WRITE) op = "write-zeroes";
    }
    const time = m[1] !== undefined ? ((Number(m[2]) - baseSec) * 1e6 + (Number(m[3]!.padEnd(6, "0")) - baseUsec)) / 1e6 : index * 1e-6;
    const req: GuestRequest = { time, op, offset, length, fua: (flags & REQ_FUA) !== 0, preflush: false, source: `${ctx.label}:${no}` };
    if (device !== undefined) req.device = device;
    if (op === "write-zeroes" && flags & REQ_MAY_UNMAP) req.mayUnmap = true;
    if (op === "write" && flags & REQ_WRITE_COMPRESSED) req.compressed = true;
    index++;
    yield req;
  }
}
