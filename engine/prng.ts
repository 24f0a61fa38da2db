// mulberry32: a tiny PRNG whose sequence is the same on every machine, so a seed reproduces a crash-state sample,
// a calibration's offsets or a test corpus. One copy for the engine and the tests.
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
