// A plain v3 header (1 GiB, 64 KiB clusters, 16-bit refcounts) for decoder tests; override what a test is about.
import type { Qcow2Header } from "../../engine/format/header.js";

export function v3Header(over: Partial<Qcow2Header> = {}): Qcow2Header {
  return {
    version: 3,
    backingFileOffset: 0,
    backingFileSize: 0,
    clusterBits: 16,
    size: 2 ** 30,
    cryptMethod: 0,
    l1Size: 2,
    l1TableOffset: 0x30000,
    refcountTableOffset: 0x10000,
    refcountTableClusters: 1,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: 104,
    compressionType: 0,
    ...over,
  };
}
