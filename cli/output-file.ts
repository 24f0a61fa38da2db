// An output file written in chunks as it grows (a 1M-request trace never becomes one string), gzip-compressed when
// its name ends in .gz. The gzip file is one member, as Perfetto's loader requires (it reads no concatenated
// members): each chunk is deflated with a sync flush, so the pieces form one deflate stream, closed by a final
// empty block and the CRC-32/size trailer. The file lands atomically (AtomicOutput): a replay that fails or is
// killed leaves the target as it was.
import * as fs from "node:fs";
import * as zlib from "node:zlib";
import { AtomicOutput } from "../engine/storage/atomic-output.js";

const CHUNK = 1 << 20;
// RFC 1952 header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);

export class OutputFile {
  private fd: number;
  private readonly out: AtomicOutput;
  private parts: (string | Uint8Array)[] = [];
  private size = 0;
  private readonly gzip: boolean;
  private crc = 0;
  private isize = 0;

  constructor(readonly path: string) {
    this.out = new AtomicOutput(path);
    this.fd = this.out.fd();
    this.gzip = path.endsWith(".gz");
    if (this.gzip) fs.writeSync(this.fd, GZIP_HEADER);
  }

  write(s: string | Uint8Array): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size >= CHUNK) this.flush();
  }

  private flush(): void {
    if (!this.parts.length) return;
    const buf = this.parts.every((p) => typeof p === "string")
      ? Buffer.from(this.parts.join(""), "utf8")
      : Buffer.concat(this.parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : p)));
    this.parts = [];
    this.size = 0;
    if (!this.gzip) {
      fs.writeSync(this.fd, buf);
      return;
    }
    this.crc = zlib.crc32(buf, this.crc);
    this.isize = (this.isize + buf.length) % 2 ** 32;
    fs.writeSync(this.fd, zlib.deflateRawSync(buf, { finishFlush: zlib.constants.Z_SYNC_FLUSH }));
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    if (this.gzip) {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.isize, 4);
      fs.writeSync(this.fd, Buffer.concat([zlib.deflateRawSync(Buffer.alloc(0)), trailer]));
    }
    this.fd = -1;
    this.out.commit();
  }

  /** Leaves the target as it was (no-op once closed). */
  abort(): void {
    if (this.fd < 0) return;
    this.fd = -1;
    this.out.abort();
  }
}
