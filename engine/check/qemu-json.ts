// QEMU's pretty JSON (qobject_to_json_pretty) byte for byte: dictionary keys come out in QDict hash-bucket
// order (tdb_hash % 512; within a bucket the last inserted key first), strings use QEMU's escapes.
// qemu-img's --output=json for check/info/map is printed this way, so scripts diffing outputs keep working.

export type QemuJsonValue = number | string | boolean | null | QemuJsonValue[] | { [key: string]: QemuJsonValue | undefined };

const QDICT_BUCKET_MAX = 512;

/** QEMU's qdict tdb_hash(). */
export function qdictHash(key: string): number {
  const bytes = Buffer.from(key, "utf8");
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) value = (value + ((bytes[i]! << ((i * 5) % 24)) >>> 0)) >>> 0;
  return (Math.imul(1103515243, value) + 12345) >>> 0;
}

/** Keys in the order qdict_first/qdict_next visit them, given their insertion order. */
export function qdictOrder(keys: string[]): string[] {
  const buckets = new Map<number, string[]>();
  for (const k of keys) {
    const b = qdictHash(k) % QDICT_BUCKET_MAX;
    const list = buckets.get(b) ?? [];
    list.unshift(k); // QLIST_INSERT_HEAD
    buckets.set(b, list);
  }
  return [...buckets.keys()].sort((a, b) => a - b).flatMap((b) => buckets.get(b)!);
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}

/** to_json_str(): QEMU escapes control characters and everything outside printable ASCII as \uXXXX. */
export function qemuJsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"': out += '\\"'; break;
      case "\\": out += "\\\\"; break;
      case "\b": out += "\\b"; break;
      case "\f": out += "\\f"; break;
      case "\n": out += "\\n"; break;
      case "\r": out += "\\r"; break;
      case "\t": out += "\\t"; break;
      default:
        if (cp > 0xffff) out += `\\u${hex4(0xd800 + ((cp - 0x10000) >> 10))}\\u${hex4(0xdc00 + ((cp - 0x10000) & 0x3ff))}`;
        else if (cp < 0x20 || cp >= 0x7f) out += `\\u${hex4(cp)}`;
        else out += ch;
    }
  }
  return out + '"';
}

function newline(indent: number): string {
  return "\n" + "    ".repeat(indent);
}

function toJson(v: QemuJsonValue, indent: number): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(17).replace(/\.?0+$/, "");
  if (typeof v === "string") return qemuJsonString(v);
  if (Array.isArray(v)) {
    let out = "[";
    v.forEach((item, i) => {
      if (i > 0) out += ",";
      out += newline(indent + 1) + toJson(item, indent + 1);
    });
    return out + newline(indent) + "]";
  }
  const keys = qdictOrder(Object.keys(v).filter((k) => v[k] !== undefined));
  let out = "{";
  keys.forEach((k, i) => {
    if (i > 0) out += ",";
    out += newline(indent + 1) + qemuJsonString(k) + ": " + toJson(v[k]!, indent + 1);
  });
  return out + newline(indent) + "}";
}

/** qobject_to_json_pretty(obj, true); keys whose value is undefined are absent (QAPI's has_* = false). */
export function qemuJsonPretty(v: QemuJsonValue): string {
  return toJson(v, 0);
}
