// The key queue runs a burst within its time budget and drops the rest, so a held key never queues seconds of work.
import { describe, expect, it } from "vitest";
import { KeyQueue } from "../../inspector/tui/key-queue.js";

describe("KeyQueue", () => {
  it("runs queued actions on the next turn, within the budget, and drops what is left", async () => {
    let ran = 0;
    let after = 0;
    // Each action takes 35 ms of a fake clock: the second ends past the 60 ms budget, the rest are dropped.
    let clock = 0;
    const q = new KeyQueue(() => after++, 60, 8, () => clock);
    for (let i = 0; i < 5; i++) q.push({ name: "s", run: () => ((clock += 35), ran++) });
    expect(ran).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(ran).toBe(2);
    expect(q.dropped).toBe(3);
    expect(after).toBe(1);
  });

  it("refuses more than maxPending while waiting", () => {
    const q = new KeyQueue(() => {}, 60, 3);
    for (let i = 0; i < 10; i++) q.push({ name: "n", run: () => {} });
    expect(q.size).toBe(3);
    expect(q.dropped).toBe(7);
  });
});
