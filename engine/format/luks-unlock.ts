// Opening a LUKS-encrypted qcow2 with its key, as QEMU's crypto/block-luks.c does: each active key slot's key is
// derived from the password (PBKDF2), decrypts the slot's anti-forensic key material sector by sector, which
// merges (AF-merge, crypto/afsplit.c) into a candidate master key; the one whose PBKDF2 digest matches the header's
// is the master key. qemu-img map/check need this only to refuse a wrong key exactly as qemu-img does.
import * as crypto from "node:crypto";
import type { ReadAt } from "./bytes.js";
import { LUKS_SECTOR, LUKS_SLOT_ENABLED, luksAlgorithms, type LuksHeader } from "./luks.js";

const DIGEST_BYTES = 20;

/** The master key, or null when no active slot opens with `password` ("Invalid password, cannot unlock any keyslot"). */
export function unlockLuks(read: ReadAt, h: LuksHeader, password: Uint8Array, file: string): Buffer | null {
  const alg = luksAlgorithms(h, file);
  for (const slot of h.slots) {
    if (slot.active !== LUKS_SLOT_ENABLED) continue;
    const slotKey = crypto.pbkdf2Sync(password, slot.salt, slot.iterations, h.keyBytes, h.hashSpec);
    const material = Buffer.alloc(h.keyBytes * slot.stripes);
    read(material, h.offset + slot.keyMaterialSector * LUKS_SECTOR);
    const split = decryptSectors(material, slotKey, alg.cipherAlg, alg.cipherMode, alg.ivgenAlg, alg.ivgenHashAlg);
    const candidate = afMerge(split, h.keyBytes, slot.stripes, h.hashSpec);
    const digest = crypto.pbkdf2Sync(candidate, h.masterKeySalt, h.masterKeyIterations, DIGEST_BYTES, h.hashSpec);
    if (crypto.timingSafeEqual(digest, Buffer.from(h.masterKeyDigest.subarray(0, DIGEST_BYTES)))) return candidate;
  }
  return null;
}

/** qcrypto_block_cipher_decrypt_helper() from sector 0, 512-byte sectors, with the IV generator's IVs. */
function decryptSectors(data: Buffer, key: Buffer, cipherAlg: string, mode: string, ivgen: string, ivHash?: string): Buffer {
  const name = `${cipherAlg}-${mode}`;
  if (!crypto.getCiphers().includes(name)) throw new Error(`LUKS cipher ${name} is not available in this Node.js build`);
  const essivKey = ivgen === "essiv" ? crypto.createHash(ivHash ?? "sha256").update(key).digest() : null;
  const out = Buffer.alloc(data.length);
  for (let s = 0; s * LUKS_SECTOR < data.length; s++) {
    const iv = Buffer.alloc(16);
    if (ivgen === "plain") iv.writeUInt32LE(s >>> 0, 0);
    else iv.writeBigUInt64LE(BigInt(s), 0);
    let realIv: Buffer | null = mode === "ecb" ? null : iv;
    if (essivKey) {
      const e = crypto.createCipheriv(`${cipherAlg.split("-")[0]}-${essivKey.length * 8}-ecb`, essivKey, null).setAutoPadding(false);
      realIv = Buffer.concat([e.update(iv), e.final()]);
    }
    const d = crypto.createDecipheriv(name, key, realIv).setAutoPadding(false);
    const chunk = data.subarray(s * LUKS_SECTOR, (s + 1) * LUKS_SECTOR);
    Buffer.concat([d.update(chunk), d.final()]).copy(out, s * LUKS_SECTOR);
  }
  return out;
}

/** qcrypto_afsplit_decode(): XOR and diffuse every stripe but the last, XOR the last. */
function afMerge(split: Buffer, blockLen: number, stripes: number, hash: string): Buffer {
  let block: Buffer = Buffer.alloc(blockLen);
  for (let i = 0; i < stripes - 1; i++) {
    xorInto(block, split.subarray(i * blockLen, (i + 1) * blockLen));
    block = diffuse(block, hash);
  }
  xorInto(block, split.subarray((stripes - 1) * blockLen, stripes * blockLen));
  return block;
}

function xorInto(dst: Buffer, src: Uint8Array): void {
  for (let i = 0; i < dst.length; i++) dst[i]! ^= src[i]!;
}

/** qcrypto_afsplit_hash(): each digest-sized piece replaced by hash(big-endian index || piece). */
function diffuse(block: Buffer, hash: string): Buffer {
  const dl = crypto.createHash(hash).digest().length;
  const out = Buffer.alloc(block.length);
  for (let j = 0; j * dl < block.length; j++) {
    const piece = block.subarray(j * dl, Math.min((j + 1) * dl, block.length));
    const iv = Buffer.alloc(4);
    iv.writeUInt32BE(j);
    crypto.createHash(hash).update(iv).update(piece).digest().copy(out, j * dl, 0, piece.length);
  }
  return out;
}
