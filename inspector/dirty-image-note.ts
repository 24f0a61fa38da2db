// The note a replay gives when its image is marked dirty (lazy refcounts, not closed cleanly): QEMU repairs such an
// image when it opens it read-write (qcow2_do_open), and so does every replay, on its shadow layer. The repair
// changes what the first requests find (refcounts rebuilt, leaks freed), so the user is told once, up front.
import { Qcow2Image } from "../engine/image/qcow2-image.js";

/** The note for `image`, or null when it is clean (only its header is read; no backing file is opened). */
export function dirtyImageNote(image: string): string | null {
  const img = Qcow2Image.open(image, { noBacking: true });
  try {
    if (!img.rt.dirty) return null;
  } finally {
    img.close();
  }
  return `${image} is marked dirty (lazy refcounts, not closed cleanly): as QEMU does when it opens it read-write, the replay first repairs it (check -r all) on its shadow layer; the file is not changed. \`qcowdbg check ${image}\` lists what is repaired`;
}
