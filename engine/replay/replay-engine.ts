// Drives guest requests through a qcow2 image on a shadow layer (the user's file is never written), one
// request id per request, recording every engine event and where each request's events start.
import { EventRecorder, type EventSink } from "../events/recorder.js";
import { Qcow2Image } from "../image/qcow2-image.js";
import { defaultConfig, type EngineConfig } from "../image/engine-config.js";
import { FileStorage } from "../storage/file-storage.js";
import { hugeRegion } from "../storage/huge-region.js";
import { ShadowStorage } from "../storage/shadow-storage.js";
import type { GuestRequest } from "../workload/guest-request.js";

export interface ReplayOptions {
  config?: Partial<EngineConfig>;
  /** Keep data payloads (default: metadata only, reads of never-written data return zeros). */
  keepData?: boolean;
  /** Record events (default true). Counts are kept either way. */
  record?: boolean;
  /** Keep requestStarts (default true); a non-interactive replay turns it off, so memory does not grow per request. */
  trackRequestStarts?: boolean;
  /**
   * Where the image's events go instead of the recorder (which then stays empty): a sink that holds only the
   * current request's (request-events.ts), for a replay that costs each request and needs no log.
   */
  sink?: EventSink & { length: number };
}

export interface RequestOutcome {
  /** Index of the request in the replay (1-based request id in events). */
  id: number;
  /** First and one-past-last event index of this request. */
  firstEvent: number;
  endEvent: number;
  error?: string;
}

export class ReplayEngine {
  readonly recorder: EventRecorder;
  /** Where events go: the recorder, or ReplayOptions.sink. */
  readonly sink: EventSink & { length: number };
  readonly image: Qcow2Image;
  readonly shadow: ShadowStorage;
  readonly config: EngineConfig;
  /**
   * Event index where request i (0-based) starts, for requests applied while the recorder is on (unless
   * trackRequestStarts is off).
   */
  requestStarts: Float64Array = new Float64Array(1024);
  requests = 0;
  private zeros = new Uint8Array(0);
  private zerosView = new Uint8Array(0);
  private readonly trackStarts: boolean;

  constructor(readonly path: string, opts: ReplayOptions = {}) {
    this.config = defaultConfig({ metadataOnly: !opts.keepData, ...opts.config });
    this.recorder = new EventRecorder();
    this.recorder.chunkRegion = hugeRegion;
    this.recorder.enabled = opts.record !== false;
    this.sink = opts.sink ?? this.recorder;
    this.trackStarts = opts.trackRequestStarts !== false;
    this.shadow = new ShadowStorage(new FileStorage(path, false));
    this.image = Qcow2Image.open(path, { config: this.config, events: this.sink, writable: true, storage: this.shadow });
  }

  /** Applies one request; errors (e.g. past the virtual size) are reported, not thrown. */
  apply(req: GuestRequest): RequestOutcome {
    const id = ++this.requests;
    const sink = this.sink;
    const first = sink.length;
    // Kept only while the log is on: with it off every start is the same, and a timeline over millions of
    // requests would pay 8 bytes each for nothing.
    if (this.trackStarts && sink.enabled) {
      if (id >= this.requestStarts.length) {
        const n = new Float64Array(this.requestStarts.length * 2);
        n.set(this.requestStarts);
        this.requestStarts = n;
      }
      this.requestStarts[id - 1] = first;
    }
    sink.request = id;
    const out: RequestOutcome = { id, firstEvent: first, endEvent: first };
    try {
      this.dispatch(req);
    } catch (e) {
      out.error = (e as Error).message;
    }
    out.endEvent = sink.length;
    return out;
  }

  private buffer(len: number, fill?: number): Uint8Array {
    if (fill !== undefined || !this.config.metadataOnly) return new Uint8Array(len).fill(fill ?? 0);
    if (this.zeros.length < len) {
      this.zeros = new Uint8Array(len);
      this.zerosView = this.zeros;
    }
    // The view of the last length asked for is kept: requests mostly have one size, and a view costs an object.
    if (this.zerosView.length !== len) this.zerosView = this.zeros.subarray(0, len);
    return this.zerosView;
  }

  private dispatch(r: GuestRequest): void {
    const img = this.image;
    if (r.preflush) img.flush();
    switch (r.op) {
      case "read":
        img.read(this.buffer(r.length), r.offset);
        break;
      case "write":
        if (r.compressed) img.writeCompressed(this.buffer(r.length, r.pattern ?? 0xcd), r.offset);
        else img.write(this.buffer(r.length, this.config.metadataOnly ? undefined : r.pattern ?? 0xcd), r.offset);
        break;
      case "write-zeroes":
        img.writeZeroes(r.offset, r.length, Boolean(r.mayUnmap));
        break;
      case "discard":
        img.discard(r.offset, r.length);
        break;
      case "flush":
        img.flush();
        break;
    }
    if (r.fua && r.op !== "flush") img.flush();
  }

  close(): void {
    this.image.close();
    this.shadow.dispose();
  }
}
