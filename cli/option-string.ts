// QEMU's option strings (--image-opts, --object, -T): items separated by `,`, where `,,` is a literal comma.
// One splitter for the qemu-img face (cli/image-spec.ts) and the qemu-io face (cli/qemu-io-options.ts).

/** The items in order, empty ones included (a trailing `,` gives an empty last item). */
export function optionItems(s: string): string[] {
  const items: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "," && s[i + 1] === ",") {
      cur += ",";
      i++;
    } else if (s[i] === ",") {
      items.push(cur);
      cur = "";
    } else cur += s[i];
  }
  items.push(cur);
  return items;
}
