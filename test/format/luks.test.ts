import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { put16, put32 } from "../../engine/format/bytes.js";
import type { Extensions } from "../../engine/format/extensions.js";
import { EXT_CRYPTO } from "../../engine/format/extensions.js";
import { FormatError } from "../../engine/format/format-error.js";
import type { Qcow2Header } from "../../engine/format/header.js";
import {
  checkCryptoExtension,
  decodeLuksHeader,
  encodeLuksHeader,
  keyMaterialSectors,
  type LuksHeader,
  LUKS_SLOT_DISABLED,
  LUKS_SLOT_ENABLED,
  luksAlgorithms,
  luksInfo,
} from "../../engine/format/luks.js";
import { MemoryStorage } from "../../engine/storage/memory-storage.js";
import { createLuks, infoJson, loadImage, tmpDir } from "./qemu-images.js";

describe("LUKS headers written by qemu-img", () => {
  const tmp = tmpDir();
  const xts = tmp.path("xts.qcow2");
  const essiv = tmp.path("essiv.qcow2");
  beforeAll(async () => {
    // Key derivation is deliberately slow: make both images at once.
    await Promise.all([createLuks(xts, ""), createLuks(essiv, ",encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,encrypt.hash-alg=sha512,cluster_size=4096")]);
  });
  afterAll(() => tmp.cleanup());

  it.each([["aes-256-xts-plain64", () => xts], ["aes-128-cbc-essiv:sha256, sha512", () => essiv]])("%s: luksInfo is qemu-img info's encrypt object, key order included", (_n, file) => {
    const f = file();
    const img = loadImage(f);
    const crypto = checkCryptoExtension(img.ext, img.header, f)!;
    const h = decodeLuksHeader(img.read, crypto, f);
    const want = infoJson(f)["format-specific"].data.encrypt;
    const got = luksInfo(h, f);
    expect(got).toEqual(want);
    expect(JSON.stringify(got)).toBe(JSON.stringify(want));
    expect(h.offset).toBe(crypto.offset);
    expect(h.slots.filter((s) => s.active === LUKS_SLOT_ENABLED)).toHaveLength(1);
    // QEMU sizes the crypto area to end exactly where the (unused) payload would start.
    expect(h.payloadOffsetSector * 512).toBe(crypto.length);
  });

  describe("validation of a real header, one corruption at a time", () => {
    let base: Uint8Array;
    let crypto: { offset: number; length: number };
    beforeAll(() => {
      const img = loadImage(xts);
      crypto = checkCryptoExtension(img.ext, img.header, xts)!;
      base = img.bytes.slice(crypto.offset, crypto.offset + 592);
    });
    function decodeWith(edit: (b: Uint8Array) => void, area = crypto.length): FormatError {
      const b = base.slice();
      edit(b);
      const m = new MemoryStorage(xts, new Uint8Array(crypto.offset + 592));
      m.write(b, crypto.offset);
      try {
        decodeLuksHeader((x, o) => m.read(x, o), { offset: crypto.offset, length: area }, xts);
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
        expect((e as FormatError).structure).toBe("LUKS header");
        expect((e as Error).message).toContain(xts);
        return e as FormatError;
      }
      throw new Error("did not throw");
    }
    const str = (b: Uint8Array, at: number, s: string) => {
      b.fill(0, at, at + 32);
      b.set(new TextEncoder().encode(s), at);
    };
    const slot = (i: number) => 208 + 48 * i;

    it.each([
      ["magic", 0, (b: Uint8Array) => b.fill(0, 4, 5), /not in LUKS format/],
      ["version", 6, (b: Uint8Array) => put16(b, 6, 2), /version 2/],
      ["cipher_name", 8, (b: Uint8Array) => b.fill(0x61, 8, 40), /NUL terminated/],
      ["cipher_mode", 40, (b: Uint8Array) => b.fill(0x61, 40, 72), /NUL terminated/],
      ["hash_spec", 72, (b: Uint8Array) => b.fill(0x61, 72, 104), /NUL terminated/],
      ["payload_offset", 104, (b: Uint8Array) => put32(b, 104, 7), /overlaps the header/],
      ["master_key_iterations", 164, (b: Uint8Array) => put32(b, 164, 0), /iteration count is zero/],
      ["stripes", slot(3) + 44, (b: Uint8Array) => put32(b, slot(3) + 44, 3999), /slot 3 is corrupted/],
      ["active", slot(2), (b: Uint8Array) => put32(b, slot(2), 1), /slot 2 state 0x1/],
      ["iterations", slot(0) + 4, (b: Uint8Array) => put32(b, slot(0) + 4, 0), /slot 0 iteration count is zero/],
      ["key_material_offset", slot(0) + 40, (b: Uint8Array) => put32(b, slot(0) + 40, 7), /overlaps the LUKS header/],
      ["key_material_offset", slot(7) + 40, (b: Uint8Array) => put32(b, slot(7) + 40, 4000), /overlaps the encrypted payload/],
      ["key_material_offset", slot(0) + 40, (b: Uint8Array) => put32(b, slot(1) + 40, 10), /key slots 0 and 1 overlap/],
      ["cipher_name", 8, (b: Uint8Array) => str(b, 8, "rot13"), /'rot13' with key size 32/],
      ["cipher_mode", 40, (b: Uint8Array) => str(b, 40, "xts"), /unexpected cipher mode string/],
      ["cipher_mode", 40, (b: Uint8Array) => str(b, 40, "gcm-plain64"), /cipher mode 'gcm'/],
      ["cipher_mode", 40, (b: Uint8Array) => str(b, 40, "xts-random"), /IV generator 'random'/],
      ["cipher_mode", 40, (b: Uint8Array) => str(b, 40, "xts-essiv"), /missing IV generator hash/],
      ["cipher_mode", 40, (b: Uint8Array) => str(b, 40, "xts-essiv:crc32"), /hash 'crc32'/],
      ["hash_spec", 72, (b: Uint8Array) => str(b, 72, "whirlpool"), /hash 'whirlpool'/],
    ] as const)("%s (%#)", (field, rel, edit, detail) => {
      const e = decodeWith(edit);
      expect([e.field, e.offset]).toEqual([field, crypto.offset + rel]);
      expect(e.message).toMatch(detail);
    });

    it("key material of an active slot must lie within the crypto header area", () => {
      const e = decodeWith(() => {}, 4096 + keyMaterialSectors(64, 4000) * 512 - 512);
      expect(e.field).toBe("key_material_offset");
      expect(e.message).toMatch(/slot 0 material ends at 260096/);
      expect(decodeWith(() => {}, 500).field).toBe("length");
    });

    it("plain IV generators ignore a hash, as dm-crypt and QEMU do", () => {
      const b = base.slice();
      str(b, 40, "xts-plain64:sha256");
      const h = decodeLuksHeader((x, o) => (x.set(b.subarray(o - crypto.offset, o - crypto.offset + x.length)), x.length), crypto, xts);
      expect(luksAlgorithms(h, xts)).toEqual({ cipherAlg: "aes-256", cipherMode: "xts", ivgenAlg: "plain64", hashAlg: "sha256" });
    });

    it("encodeLuksHeader writes back what decode read", () => {
      const h = decodeLuksHeader((x, o) => (x.set(base.subarray(o - crypto.offset, o - crypto.offset + x.length)), x.length), crypto, xts);
      const { offset: _o, length: _l, ...rest } = h;
      expect(encodeLuksHeader(rest)).toEqual(base);
    });
  });
});

describe("the crypto header extension (qcow2_read_extensions)", () => {
  const FILE = "c.qcow2";
  const h = (cryptMethod: number): Qcow2Header => ({ clusterBits: 16, cryptMethod }) as Qcow2Header;
  const ext = (offset: number, length = 16): Extensions => ({
    list: [{ type: EXT_CRYPTO, offset: 0x70, length, data: new Uint8Array(length) }],
    featureNames: [],
    crypto: { offset, length: 0x1f9000 },
  });
  const field = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect((e as Error).message).toContain(FILE);
      return (e as FormatError).field;
    }
    throw new Error("did not throw");
  };

  it("accepts a good pointer and refuses the rest", () => {
    expect(checkCryptoExtension(ext(0x40000), h(2), FILE)).toEqual({ offset: 0x40000, length: 0x1f9000 });
    expect(checkCryptoExtension({ list: [], featureNames: [] }, h(0), FILE)).toBeUndefined();
    expect(field(() => checkCryptoExtension({ list: [], featureNames: [] }, h(2), FILE))).toBe("crypt_method");
    expect(field(() => checkCryptoExtension(ext(0x40000), h(0), FILE))).toBe("offset");
    expect(field(() => checkCryptoExtension(ext(0x40000, 24), h(2), FILE))).toBe("length");
    expect(field(() => checkCryptoExtension(ext(0x40200), h(2), FILE))).toBe("offset");
  });
});

describe("LUKS helpers", () => {
  it("key material is rounded to the header's two sectors", () => {
    expect(keyMaterialSectors(64, 4000)).toBe(500);
    expect(keyMaterialSectors(32, 4000)).toBe(250);
    expect(keyMaterialSectors(16, 4000)).toBe(126);
  });

  it("cipher names follow the key size; XTS halves it", () => {
    const h = { cipherName: "serpent", cipherMode: "xts-plain", hashSpec: "sha512", keyBytes: 48, offset: 0 } as LuksHeader;
    expect(luksAlgorithms(h, "f")).toEqual({ cipherAlg: "serpent-192", cipherMode: "xts", ivgenAlg: "plain", hashAlg: "sha512" });
    expect(luksAlgorithms({ ...h, cipherName: "twofish", cipherMode: "cbc-plain64", keyBytes: 16 }, "f").cipherAlg).toBe("twofish-128");
    expect(() => luksAlgorithms({ ...h, cipherName: "cast5", cipherMode: "cbc-plain64", keyBytes: 32 }, "f")).toThrow(/cast5' with key size 32/);
    expect(LUKS_SLOT_DISABLED).toBe(0xdead);
  });
});
