// dump extensions: each header extension with its offset and decoded data; the LUKS header behind the crypto one.
import { cstr, hex, u32 } from "../../../engine/format/bytes.js";
import { EXT_BACKING_FORMAT, EXT_BITMAPS, EXT_CRYPTO, EXT_DATA_FILE, EXT_FEATURE_TABLE, EXTENSION_NAMES } from "../../../engine/format/extensions.js";
import { FormatError } from "../../../engine/format/format-error.js";
import { checkCryptoExtension, decodeLuksHeader, luksInfo, LUKS_SLOT_ENABLED } from "../../../engine/format/luks.js";
import { type Dump, type DumpImage, extensionsOf, type Json, table2 } from "./dump-image.js";
export function dumpExtensions(img: DumpImage): Dump {
  const h = img.header;
  const ext = extensionsOf(img);
  const warnings: string[] = [];
  const list: Json[] = [];
  const text: string[] = [`${img.file}: header extensions from 0x${h.headerLength.toString(16)}`];
  const typeNames = ["incompatible", "compatible", "autoclear"];
  for (const [i, e] of ext.list.entries()) {
    const name = EXTENSION_NAMES[e.type] ?? "unknown";
    const item: { [k: string]: Json } = { index: i, offset: e.offset, type: "0x" + e.type.toString(16).padStart(8, "0"), name, length: e.length };
    const lines: string[] = [];
    switch (e.type) {
      case EXT_BACKING_FORMAT:
        item.data = { format: ext.backingFormat ?? "" };
        lines.push(`format "${ext.backingFormat}"`);
        break;
      case EXT_DATA_FILE:
        item.data = { name: ext.dataFile ?? "" };
        lines.push(`data file "${ext.dataFile}"`);
        break;
      case EXT_FEATURE_TABLE: {
        const rows = [];
        for (let j = 0; j + 48 <= e.length; j += 48)
          rows.push({ offset: e.offset + 8 + j, type: typeNames[e.data[j]!] ?? `type ${e.data[j]}`, bit: e.data[j + 1]!, name: cstr(e.data, j + 2, 46) });
        item.data = { features: rows };
        lines.push(...table2(["offset", "type", "bit", "name"], rows.map((r) => [hex(r.offset), r.type, String(r.bit), r.name])));
        break;
      }
      case EXT_BITMAPS: {
        const b = ext.bitmaps!;
        item.data = { nb_bitmaps: b.nbBitmaps, reserved: u32(e.data, 4), directory_size: b.directorySize, directory_offset: b.directoryOffset };
        lines.push(`nb_bitmaps ${b.nbBitmaps}  directory at ${hex(b.directoryOffset)} (${b.directorySize} bytes)`);
        break;
      }
      case EXT_CRYPTO: {
        const c = ext.crypto!;
        const data: { [k: string]: Json } = { offset: c.offset, length: c.length };
        lines.push(`LUKS header at ${hex(c.offset)}, ${c.length} bytes`);
        try {
          const crypto = checkCryptoExtension(ext, h, img.file);
          if (crypto) {
            const l = decodeLuksHeader(img.read, crypto, img.file);
            const info = luksInfo(l, img.file);
            data.luks = {
              version: l.version,
              cipher_name: l.cipherName,
              cipher_mode: l.cipherMode,
              hash_spec: l.hashSpec,
              payload_offset: l.payloadOffsetSector * 512,
              key_bytes: l.keyBytes,
              master_key_iterations: l.masterKeyIterations,
              uuid: l.uuid,
              slots: l.slots.map((s) => ({
                index: s.index,
                offset: s.offset,
                active: hex(s.active),
                iterations: s.iterations,
                key_material_offset: s.keyMaterialSector * 512,
                stripes: s.stripes,
              })),
              info: info as unknown as Json,
            };
            lines.push(
              `  cipher ${l.cipherName} ${l.cipherMode} (${info["cipher-alg"]}), hash ${l.hashSpec}, key ${l.keyBytes} bytes, master key iterations ${l.masterKeyIterations}`,
              `  uuid ${l.uuid}, payload offset ${l.payloadOffsetSector * 512}`,
              ...table2(
                ["  slot", "offset", "state", "iterations", "key material", "stripes"],
                l.slots.map((s) => [
                  `  ${s.index}`,
                  hex(s.offset),
                  s.active === LUKS_SLOT_ENABLED ? "active" : "disabled",
                  String(s.iterations),
                  hex(s.keyMaterialSector * 512),
                  String(s.stripes),
                ]),
              ),
            );
          }
        } catch (err) {
          if (!(err instanceof FormatError)) throw err;
          warnings.push(err.message);
        }
        item.data = data;
        break;
      }
      default:
        item.data = { hex: Buffer.from(e.data.subarray(0, 256)).toString("hex") };
        lines.push(`data ${Buffer.from(e.data.subarray(0, 32)).toString("hex")}${e.length > 32 ? "..." : ""}`);
    }
    list.push(item);
    text.push(`${hex(e.offset).padEnd(8)} ${item.type} ${name}, ${e.length} bytes`, ...lines.map((l) => `    ${l}`));
  }
  if (ext.list.length === 0) text.push("(no extensions)");
  for (const w of warnings) text.push(`warning: ${w}`);
  return { json: { file: img.file, start: h.headerLength, extensions: list, warnings }, text };
}
