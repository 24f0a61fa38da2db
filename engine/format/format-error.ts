// Typed errors for untrusted on-disk input: every error names the structure, the field, the byte offset and
// the file, so the CLI can print one clear line without a stack trace.

export class FormatError extends Error {
  constructor(
    readonly structure: string,
    readonly field: string,
    readonly offset: number,
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${file}: ${structure}.${field} at offset 0x${offset.toString(16)}: ${detail}`);
    this.name = "FormatError";
  }
}

/** An image feature we can parse but refuse to operate on (unknown incompatible bits, encryption, ...). */
export class UnsupportedError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = "UnsupportedError";
  }
}
