// What qemu-img's open does about an encrypted qcow2 before map, check or convert can run: without a key it refuses
// ("Parameter 'encrypt.key-secret' is required for cipher"), with a wrong one it cannot unlock any key slot. info
// opens without I/O and needs no key. Metadata is never encrypted, so once the key is accepted the rest is as usual.
import { QemuOpenError } from "./open-validation.js";
import { quietEvents } from "./open-inspection.js";
import { Qcow2Image } from "../image/qcow2-image.js";
import { checkCryptoExtension, decodeLuksHeader } from "../format/luks.js";
import { unlockLuks } from "../format/luks-unlock.js";

/**
 * Throws QemuOpenError with qemu-img's words when `filename` (qcow2) is encrypted and `password` is absent or opens
 * no key slot. Unencrypted images pass whatever the password. `label` is the name qemu-img's message quotes.
 */
export function requireImageKey(filename: string, password: Uint8Array | undefined, label = filename): void {
  // Only the header and the LUKS area are read: minimal caches spare the default's allocation on a big image.
  const img = Qcow2Image.open(filename, { noBacking: true, allowCorrupt: true, events: quietEvents(), config: { l2CacheSize: 0, refcountCacheSize: 0 } });
  try {
    const h = img.header;
    if (h.cryptMethod === 0) return;
    const fail = (why: string): never => {
      throw new QemuOpenError(label, why);
    };
    if (!password) fail("Parameter 'encrypt.key-secret' is required for cipher");
    if (h.cryptMethod !== 2) return; // legacy AES: any key opens it (QEMU derives the key from the password)
    const crypto = checkCryptoExtension(img.ext, h, filename);
    if (!crypto) return fail("LUKS encryption without a crypto header extension");
    const header = decodeLuksHeader((buf, off) => img.file.read(buf, off), crypto, filename);
    if (!unlockLuks((buf, off) => img.file.read(buf, off), header, password!, filename)) fail("Invalid password, cannot unlock any keyslot");
  } finally {
    img.close();
  }
}
