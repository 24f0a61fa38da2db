// The LUKS1 header that a LUKS-encrypted qcow2 keeps at the crypto extension's offset: decoded and validated
// as QEMU 7.2's crypto/block-luks.c does when it opens without a key (qemu-img info), and shown the way
// qemu-img info shows it under format-specific.data.encrypt. Nothing here decrypts.
import { type ReadAt, cstr, put16, put32, u16, u32 } from "./bytes.js";
import type { Extensions } from "./extensions.js";
import { EXT_CRYPTO } from "./extensions.js";
import { FormatError } from "./format-error.js";
import type { Qcow2Header } from "./header.js";

export const LUKS_MAGIC = [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe];
export const LUKS_HEADER_BYTES = 592;
export const LUKS_SECTOR = 512;
export const LUKS_SLOTS = 8;
export const LUKS_SLOT_BYTES = 48;
export const LUKS_SLOTS_AT = 208;
export const LUKS_SLOT_ENABLED = 0x00ac71f3;
export const LUKS_SLOT_DISABLED = 0x0000dead;
export const LUKS_STRIPES = 4000;
/** Key material may not start before this byte offset (QCRYPTO_BLOCK_LUKS_KEY_SLOT_OFFSET). */
export const LUKS_KEY_SLOT_OFFSET = 4096;

export interface LuksKeySlot {
  index: number;
  /** File offset of the slot's 48-byte record. */
  offset: number;
  active: number;
  iterations: number;
  salt: Uint8Array;
  keyMaterialSector: number;
  stripes: number;
}

export interface LuksHeader {
  /** File offset of the LUKS header (the crypto extension's offset). */
  offset: number;
  /** Bytes reserved for it in the image (the crypto extension's length). */
  length: number;
  version: number;
  cipherName: string;
  cipherMode: string;
  hashSpec: string;
  payloadOffsetSector: number;
  keyBytes: number;
  masterKeyDigest: Uint8Array;
  masterKeySalt: Uint8Array;
  masterKeyIterations: number;
  uuid: string;
  slots: LuksKeySlot[];
}

/** QEMU's names for the algorithms the header's strings select. */
export interface LuksAlgorithms {
  cipherAlg: string;
  cipherMode: string;
  ivgenAlg: string;
  ivgenHashAlg?: string;
  hashAlg: string;
}

export interface LuksSlotInfo {
  active: boolean;
  iters?: number;
  "key-offset": number;
  stripes?: number;
}

/** qemu-img info's format-specific.data.encrypt object, keys in the order qemu-img prints them. */
export interface LuksInfo {
  "ivgen-alg": string;
  "hash-alg": string;
  "cipher-alg": string;
  uuid: string;
  "ivgen-hash-alg"?: string;
  format: "luks";
  "cipher-mode": string;
  slots: LuksSlotInfo[];
  "payload-offset": number;
  "master-key-iters": number;
}

const CIPHER_SIZES: Record<string, number[]> = {
  aes: [16, 24, 32],
  cast5: [16],
  serpent: [16, 24, 32],
  twofish: [16, 24, 32],
};
const MODES = ["ecb", "cbc", "xts", "ctr"];
const IVGENS = ["plain", "plain64", "essiv"];
const HASHES = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512", "ripemd160"];

/** QEMU's checks of the crypto header extension against the qcow2 header (qcow2_read_extensions). */
export function checkCryptoExtension(ext: Extensions, header: Qcow2Header, file: string): { offset: number; length: number } | undefined {
  const raw = ext.list.filter((e) => e.type === EXT_CRYPTO).pop();
  if (!raw || !ext.crypto) {
    if (header.cryptMethod === 2) throw new FormatError("header", "crypt_method", 32, file, "LUKS encryption without a crypto header extension");
    return undefined;
  }
  const err = (field: string, rel: number, detail: string) => new FormatError("crypto header extension", field, raw.offset + 8 + rel, file, detail);
  if (header.cryptMethod !== 2) throw err("offset", 0, "crypto header extension is only expected with LUKS encryption (crypt_method 2)");
  if (raw.length !== 16) throw err("length", -4, `${raw.length} bytes, QEMU requires exactly 16`);
  if (ext.crypto.offset % 2 ** header.clusterBits !== 0) throw err("offset", 0, `0x${ext.crypto.offset.toString(16)} is not cluster aligned`);
  return ext.crypto;
}

/**
 * Reads the LUKS header from `crypto.offset` and validates it as qcrypto_block_luks_check_header() and
 * parse_header() do, plus: every active slot's key material lies within the crypto extension's length.
 */
export function decodeLuksHeader(read: ReadAt, crypto: { offset: number; length: number }, file: string): LuksHeader {
  const base = crypto.offset;
  const err = (field: string, rel: number, detail: string) => new FormatError("LUKS header", field, base + rel, file, detail);
  if (crypto.length < LUKS_HEADER_BYTES) throw err("length", 0, `crypto header area of ${crypto.length} bytes cannot hold the ${LUKS_HEADER_BYTES}-byte LUKS header`);
  const b = new Uint8Array(LUKS_HEADER_BYTES);
  read(b, base);
  for (let i = 0; i < LUKS_MAGIC.length; i++) if (b[i] !== LUKS_MAGIC[i]) throw err("magic", 0, "volume is not in LUKS format");
  const version = u16(b, 6);
  if (version !== 1) throw err("version", 6, `LUKS version ${version} is not supported`);
  const str = (field: string, at: number): string => {
    if (b.subarray(at, at + 32).indexOf(0) < 0) throw err(field, at, "is not NUL terminated");
    return cstr(b, at, 32);
  };
  const h: LuksHeader = {
    offset: base,
    length: crypto.length,
    version,
    cipherName: str("cipher_name", 8),
    cipherMode: str("cipher_mode", 40),
    hashSpec: str("hash_spec", 72),
    payloadOffsetSector: u32(b, 104),
    keyBytes: u32(b, 108),
    masterKeyDigest: b.slice(112, 132),
    masterKeySalt: b.slice(132, 164),
    masterKeyIterations: u32(b, 164),
    uuid: cstr(b, 168, 40),
    slots: [],
  };
  for (let i = 0; i < LUKS_SLOTS; i++) {
    const o = LUKS_SLOTS_AT + i * LUKS_SLOT_BYTES;
    h.slots.push({
      index: i,
      offset: base + o,
      active: u32(b, o),
      iterations: u32(b, o + 4),
      salt: b.slice(o + 8, o + 40),
      keyMaterialSector: u32(b, o + 40),
      stripes: u32(b, o + 44),
    });
  }

  const minSector = LUKS_KEY_SLOT_OFFSET / LUKS_SECTOR;
  if (h.payloadOffsetSector < minSector) throw err("payload_offset", 104, `payload (sector ${h.payloadOffsetSector}) overlaps the header`);
  if (h.masterKeyIterations === 0) throw err("master_key_iterations", 164, "key iteration count is zero");
  const spans = h.slots.map((s) => ({ start: s.keyMaterialSector, len: keyMaterialSectors(h.keyBytes, s.stripes) }));
  for (const s of h.slots) {
    const rel = s.offset - base;
    const { start, len } = spans[s.index]!;
    if (s.stripes !== LUKS_STRIPES) throw err("stripes", rel + 44, `key slot ${s.index} is corrupted (stripes ${s.stripes} != ${LUKS_STRIPES})`);
    if (s.active !== LUKS_SLOT_ENABLED && s.active !== LUKS_SLOT_DISABLED)
      throw err("active", rel, `key slot ${s.index} state 0x${s.active.toString(16)} is neither enabled nor disabled`);
    if (s.active === LUKS_SLOT_ENABLED && s.iterations === 0) throw err("iterations", rel + 4, `key slot ${s.index} iteration count is zero`);
    if (start < minSector) throw err("key_material_offset", rel + 40, `key slot ${s.index} overlaps the LUKS header`);
    if (start + len > h.payloadOffsetSector) throw err("key_material_offset", rel + 40, `key slot ${s.index} overlaps the encrypted payload`);
    for (let j = s.index + 1; j < LUKS_SLOTS; j++) {
      const o = spans[j]!;
      if (start + len > o.start && o.start + o.len > start) throw err("key_material_offset", rel + 40, `key slots ${s.index} and ${j} overlap`);
    }
    if (s.active === LUKS_SLOT_ENABLED && (start + len) * LUKS_SECTOR > crypto.length)
      throw err("key_material_offset", rel + 40, `key slot ${s.index} material ends at ${(start + len) * LUKS_SECTOR}, beyond the ${crypto.length}-byte crypto header area`);
  }
  luksAlgorithms(h, file);
  return h;
}

/** Sectors of anti-forensic key material, rounded as cryptsetup (and QEMU) do: to the header's 2 sectors. */
export function keyMaterialSectors(keyBytes: number, stripes: number): number {
  const headerSectors = Math.ceil(LUKS_HEADER_BYTES / LUKS_SECTOR);
  const sectors = Math.ceil((keyBytes * stripes) / LUKS_SECTOR);
  return Math.ceil(sectors / headerSectors) * headerSectors;
}

/** Resolves names as QEMU does ("xts-plain64" -> mode xts, ivgen plain64; XTS halves the key). Unknown names throw. */
export function luksAlgorithms(h: LuksHeader, file: string): LuksAlgorithms {
  const err = (field: string, rel: number, detail: string) => new FormatError("LUKS header", field, h.offset + rel, file, detail);
  const dash = h.cipherMode.indexOf("-");
  if (dash < 0) throw err("cipher_mode", 40, `unexpected cipher mode string format '${h.cipherMode}'`);
  const mode = h.cipherMode.slice(0, dash);
  let ivgen = h.cipherMode.slice(dash + 1);
  let ivhash: string | undefined;
  const colon = ivgen.indexOf(":");
  if (colon >= 0) {
    ivhash = ivgen.slice(colon + 1);
    ivgen = ivgen.slice(0, colon);
    if (!HASHES.includes(ivhash)) throw err("cipher_mode", 40, `IV generator hash '${ivhash}' is not supported`);
  }
  if (!MODES.includes(mode)) throw err("cipher_mode", 40, `cipher mode '${mode}' is not supported`);
  const keyBytes = mode === "xts" ? h.keyBytes / 2 : h.keyBytes;
  if (!(CIPHER_SIZES[h.cipherName] ?? []).includes(keyBytes))
    throw err("cipher_name", 8, `algorithm '${h.cipherName}' with key size ${keyBytes} bytes is not supported`);
  if (!HASHES.includes(h.hashSpec)) throw err("hash_spec", 72, `hash '${h.hashSpec}' is not supported`);
  if (!IVGENS.includes(ivgen)) throw err("cipher_mode", 40, `IV generator '${ivgen}' is not supported`);
  if (ivgen === "essiv" && ivhash === undefined) throw err("cipher_mode", 40, "missing IV generator hash specification");
  const out: LuksAlgorithms = { cipherAlg: `${h.cipherName}-${keyBytes * 8}`, cipherMode: mode, ivgenAlg: ivgen, hashAlg: h.hashSpec };
  if (ivgen === "essiv") out.ivgenHashAlg = ivhash;
  return out;
}

/** The object qemu-img info --output=json prints as format-specific.data.encrypt for a LUKS qcow2. */
export function luksInfo(h: LuksHeader, file: string): LuksInfo {
  const a = luksAlgorithms(h, file);
  return {
    "ivgen-alg": a.ivgenAlg,
    "hash-alg": a.hashAlg,
    "cipher-alg": a.cipherAlg,
    uuid: h.uuid,
    ...(a.ivgenHashAlg !== undefined ? { "ivgen-hash-alg": a.ivgenHashAlg } : {}),
    format: "luks",
    "cipher-mode": a.cipherMode,
    slots: h.slots.map(slotInfo),
    "payload-offset": h.payloadOffsetSector * LUKS_SECTOR,
    "master-key-iters": h.masterKeyIterations,
  };
}

function slotInfo(s: LuksKeySlot): LuksSlotInfo {
  const keyOffset = s.keyMaterialSector * LUKS_SECTOR;
  if (s.active !== LUKS_SLOT_ENABLED) return { active: false, "key-offset": keyOffset };
  return { active: true, iters: s.iterations, "key-offset": keyOffset, stripes: s.stripes };
}

/** Encodes the 592-byte header (for tests and fixtures). */
export function encodeLuksHeader(h: Omit<LuksHeader, "offset" | "length">): Uint8Array {
  const b = new Uint8Array(LUKS_HEADER_BYTES);
  b.set(LUKS_MAGIC, 0);
  put16(b, 6, h.version);
  const enc = new TextEncoder();
  b.set(enc.encode(h.cipherName).subarray(0, 31), 8);
  b.set(enc.encode(h.cipherMode).subarray(0, 31), 40);
  b.set(enc.encode(h.hashSpec).subarray(0, 31), 72);
  put32(b, 104, h.payloadOffsetSector);
  put32(b, 108, h.keyBytes);
  b.set(h.masterKeyDigest.subarray(0, 20), 112);
  b.set(h.masterKeySalt.subarray(0, 32), 132);
  put32(b, 164, h.masterKeyIterations);
  b.set(enc.encode(h.uuid).subarray(0, 40), 168);
  h.slots.forEach((s, i) => {
    const o = LUKS_SLOTS_AT + i * LUKS_SLOT_BYTES;
    put32(b, o, s.active);
    put32(b, o + 4, s.iterations);
    b.set(s.salt.subarray(0, 32), o + 8);
    put32(b, o + 40, s.keyMaterialSector);
    put32(b, o + 44, s.stripes);
  });
  return b;
}
