// Perfetto's own trace format (protobuf: a Trace of TracePackets with TrackDescriptor and TrackEvent messages), for
// --chrome-trace FILE.pftrace: the same tracks, slices, instants and named arguments as the JSON writer, about a
// fifth of the bytes (event and argument names are interned once per trace). That keeps a 1M-request replay with
// every engine decision loadable in the Perfetto UI, where the JSON importer gives up. Field numbers are those of
// perfetto/protos/perfetto/trace/{trace_packet,track_event/*,interned_data/*}.proto, a stable public format.
import type { TraceArgs } from "./chrome-trace-format.js";

/** Wire types. */
const VARINT = 0;
const I64 = 1;
const LEN = 2;

/** Field numbers (see the .proto files named above). */
const F = {
  tracePacket: 1, // Trace.packet
  timestamp: 8,
  sequenceId: 10, // trusted_packet_sequence_id
  trackEvent: 11,
  internedData: 12,
  sequenceFlags: 13,
  trackDescriptor: 60,
  // TrackDescriptor
  tdUuid: 1,
  tdName: 2,
  tdParent: 5,
  tdChildOrdering: 11,
  tdSiblingRank: 12,
  // TrackEvent
  teCategoryIids: 3,
  teDebugAnnotations: 4,
  teType: 9,
  teNameIid: 10,
  teTrackUuid: 11,
  teName: 23,
  // DebugAnnotation
  daNameIid: 1,
  daBool: 2,
  daInt: 4,
  daDouble: 5,
  daString: 6,
  // InternedData: event_categories, event_names, debug_annotation_names; each entry {iid = 1, name = 2}
  idCategories: 1,
  idEventNames: 2,
  idAnnotationNames: 3,
} as const;

const TYPE_SLICE_BEGIN = 1;
const TYPE_SLICE_END = 2;
const TYPE_INSTANT = 3;
const SEQ_INCREMENTAL_STATE_CLEARED = 1;
const SEQ_NEEDS_INCREMENTAL_STATE = 2;
const CHILD_ORDERING_EXPLICIT = 3;
const SEQUENCE_ID = 1;
const ROOT_UUID = 1;
/** Distinct event names interned at most; names past it (unique request names, say) are written inline. */
const MAX_INTERNED_NAMES = 4096;
const FLUSH_AT = 1 << 20;

/** A growable protobuf encoder. */
class Buf {
  bytes = new Uint8Array(256);
  len = 0;

  private room(n: number): void {
    if (this.len + n <= this.bytes.length) return;
    const b = new Uint8Array(Math.max(this.bytes.length * 2, this.len + n));
    b.set(this.bytes.subarray(0, this.len));
    this.bytes = b;
  }

  /** A non-negative integer below 2^53 as a varint. */
  varint(v: number): void {
    this.room(10);
    while (v >= 0x80) {
      this.bytes[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.bytes[this.len++] = v;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  uint(field: number, v: number): void {
    this.tag(field, VARINT);
    this.varint(v);
  }

  /** int64: negative values as 64-bit two's complement (ten bytes), as protobuf encodes them. */
  int(field: number, v: number): void {
    if (v >= 0) return this.uint(field, v);
    this.tag(field, VARINT);
    let x = BigInt.asUintN(64, BigInt(v));
    this.room(10);
    while (x >= 0x80n) {
      this.bytes[this.len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.bytes[this.len++] = Number(x);
  }

  double(field: number, v: number): void {
    this.tag(field, I64);
    this.room(8);
    new DataView(this.bytes.buffer, this.bytes.byteOffset + this.len, 8).setFloat64(0, v, true);
    this.len += 8;
  }

  string(field: number, s: string): void {
    const b = Buffer.from(s, "utf8");
    this.message(field, b, b.length);
  }

  message(field: number, body: Uint8Array, length: number): void {
    this.tag(field, LEN);
    this.varint(length);
    this.room(length);
    this.bytes.set(body.subarray(0, length), this.len);
    this.len += length;
  }

  sub(field: number, b: Buf): void {
    this.message(field, b.bytes, b.len);
  }

  view(): Uint8Array {
    return this.bytes.subarray(0, this.len);
  }
}

/** Writes the same calls as ChromeTraceWriter (pid, tid, microseconds) as Perfetto protobuf packets. */
export class PerfettoTraceWriter {
  private readonly packet = new Buf();
  private readonly event = new Buf();
  private readonly ann = new Buf();
  private readonly interned = new Buf();
  private readonly entry = new Buf();
  private readonly pending = new Buf();
  private readonly names = new Map<string, number>();
  private readonly annotationNames = new Map<string, number>();
  private readonly categories = new Map<string, number>();
  private first = true;
  private ended = false;
  private lastNs = 0;
  private flushed = 0;

  /** `out` receives the protobuf bytes in chunks. */
  constructor(private readonly out: (chunk: Uint8Array) => void) {}

  /** Bytes encoded so far, including those not yet handed to `out`. */
  get size(): number {
    return this.flushed + this.pending.len;
  }

  /** The root track: every track below hangs from it, in the order their sort indexes give. */
  processName(_pid: number, name: string): void {
    const d = this.event;
    d.len = 0;
    d.uint(F.tdUuid, ROOT_UUID);
    d.string(F.tdName, name);
    d.uint(F.tdChildOrdering, CHILD_ORDERING_EXPLICIT);
    this.emitDescriptor(d);
  }

  threadName(_pid: number, tid: number, name: string, sortIndex = tid): void {
    const d = this.event;
    d.len = 0;
    d.uint(F.tdUuid, trackUuid(tid));
    d.uint(F.tdParent, ROOT_UUID);
    d.string(F.tdName, name);
    d.int(F.tdSiblingRank, sortIndex);
    this.emitDescriptor(d);
  }

  complete(_pid: number, tid: number, name: string, cat: string, ts: number, dur: number, args?: TraceArgs): void {
    this.trackEvent(toNs(ts), TYPE_SLICE_BEGIN, tid, name, cat, args);
    this.trackEvent(toNs(ts + dur), TYPE_SLICE_END, tid);
  }

  instant(_pid: number, tid: number, name: string, cat: string, ts: number, args?: TraceArgs): void {
    this.trackEvent(toNs(ts), TYPE_INSTANT, tid, name, cat, args);
  }

  /** The trace's metadata (schema, image, totals) as the arguments of a last instant on the root track. */
  end(otherData: TraceArgs = {}): void {
    if (this.ended) return;
    this.ended = true;
    this.trackEvent(this.lastNs, TYPE_INSTANT, -1, "qcowdbg trace metadata", "metadata", otherData);
    this.flush();
  }

  private emitDescriptor(d: Buf): void {
    const p = this.packet;
    p.len = 0;
    p.sub(F.trackDescriptor, d);
    p.uint(F.sequenceId, SEQUENCE_ID);
    this.emit(p);
  }

  private trackEvent(ns: number, type: number, tid: number, name?: string, cat?: string, args?: TraceArgs): void {
    this.lastNs = Math.max(this.lastNs, ns);
    const e = this.event;
    const interned = this.interned;
    e.len = 0;
    interned.len = 0;
    e.uint(F.teType, type);
    e.uint(F.teTrackUuid, tid < 0 ? ROOT_UUID : trackUuid(tid));
    if (cat !== undefined) e.uint(F.teCategoryIids, this.intern(this.categories, cat, F.idCategories, Infinity));
    if (name !== undefined) {
      const iid = this.intern(this.names, name, F.idEventNames, MAX_INTERNED_NAMES);
      if (iid) e.uint(F.teNameIid, iid);
      else e.string(F.teName, name);
    }
    if (args) {
      for (const [k, v] of Object.entries(args)) {
        const a = this.ann;
        a.len = 0;
        a.uint(F.daNameIid, this.intern(this.annotationNames, k, F.idAnnotationNames, Infinity));
        if (typeof v === "string") a.string(F.daString, v);
        else if (typeof v === "boolean") a.uint(F.daBool, v ? 1 : 0);
        else if (Number.isSafeInteger(v)) a.int(F.daInt, v);
        else a.double(F.daDouble, v);
        e.sub(F.teDebugAnnotations, a);
      }
    }
    const p = this.packet;
    p.len = 0;
    p.uint(F.timestamp, ns);
    p.sub(F.trackEvent, e);
    if (interned.len) p.sub(F.internedData, interned);
    p.uint(F.sequenceId, SEQUENCE_ID);
    p.uint(F.sequenceFlags, this.first ? SEQ_INCREMENTAL_STATE_CLEARED | SEQ_NEEDS_INCREMENTAL_STATE : SEQ_NEEDS_INCREMENTAL_STATE);
    this.first = false;
    this.emit(p);
  }

  /** The interning id of `s` in `table`, adding it to this packet's InternedData when new; 0 when the table is full. */
  private intern(table: Map<string, number>, s: string, field: number, max: number): number {
    let iid = table.get(s);
    if (iid !== undefined) return iid;
    if (table.size >= max) return 0;
    iid = table.size + 1;
    table.set(s, iid);
    const en = this.entry;
    en.len = 0;
    en.uint(1, iid);
    en.string(2, s);
    this.interned.sub(field, en);
    return iid;
  }

  private emit(p: Buf): void {
    this.pending.sub(F.tracePacket, p);
    if (this.pending.len >= FLUSH_AT) this.flush();
  }

  private flush(): void {
    this.flushed += this.pending.len;
    if (this.pending.len) this.out(this.pending.view().slice());
    this.pending.len = 0;
  }
}

function trackUuid(tid: number): number {
  return 100 + tid;
}

/** Microseconds to whole nanoseconds (Perfetto's unit). */
function toNs(us: number): number {
  return Math.max(0, Math.round(us * 1000));
}
