// The trace formats this folder reads, by the name users pass to --format.

export const FORMAT_NAMES = [
  "blkparse",
  "blktrace",
  "fio-iolog",
  "qemu-io",
  "qemu-trace",
  "msr",
  "alibaba",
  "tencent",
  "systor",
  "jsonl",
] as const;

export type FormatName = (typeof FORMAT_NAMES)[number];

export function isFormatName(s: string): s is FormatName {
  return (FORMAT_NAMES as readonly string[]).includes(s);
}
