// The note a replay gives when its image is marked dirty (lazy refcounts, not closed cleanly): QEMU repairs such an
// image when it opens it read-write (qcow2_do_open), and so does every replay, on its shadow layer. The repair
// changes what the first requests find (refcounts rebuilt, leaks freed), so the user is told once, up front.
// Whether it applies comes from an open the caller makes anyway (Qcow2Image.repairedAtOpen, or the header's
// dirty bit read with the virtual size).

/** The note for a dirty `image`. */
export function dirtyImageNote(image: string): string {
  return `${image} is marked dirty (lazy refcounts, not closed cleanly): as QEMU does when it opens it read-write, the replay first repairs it (check -r all) on its shadow layer; the file is not changed. \`qcowdbg check ${image}\` lists what is repaired`;
}
