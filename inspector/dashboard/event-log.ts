// The dashboard's log of notable moments (metadata allocations, errors, new slowest requests, notices): a
// bounded ring, so a trace that allocates a million L2 tables keeps the last few hundred lines only.

export class EventLog {
  private ring: string[] = [];
  private next = 0;
  /** Lines ever added (the ring holds the last `capacity`). */
  total = 0;

  constructor(readonly capacity = 300) {}

  add(line: string): void {
    if (this.ring.length < this.capacity) this.ring.push(line);
    else this.ring[this.next] = line;
    this.next = (this.next + 1) % this.capacity;
    this.total++;
  }

  /** The last `n` lines, oldest first. */
  tail(n: number): string[] {
    const all = this.ring.length < this.capacity ? this.ring : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return n > 0 ? all.slice(-n) : [];
  }

  clear(): void {
    this.ring = [];
    this.next = 0;
    this.total = 0;
  }
}
