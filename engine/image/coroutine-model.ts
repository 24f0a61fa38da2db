// QEMU runs the chunks of one guest request as concurrent coroutines (an aio task pool): each chunk's task runs
// until its first I/O, the request coroutine goes on allocating, and s->lock (a CoMutex that hands the lock to
// the first waiter) decides who links its L2 entries when. This deterministic model replays that schedule:
// I/O completes in submission order, woken coroutines run when the request coroutine next yields. A task that
// fails (a GuestIoError) ends alone: the others run to completion, and waitAll reports the first failure, as
// aio_task_pool_wait_all and aio_task_pool_status do.
import { GuestIoError } from "./guest-io-error.js";

export type Wait = "io" | "lock";

export interface Task {
  id: number;
  gen: Generator<Wait, void, void>;
  done: boolean;
}

type Holder = Task | "main" | null;

export class CoroutineModel {
  private owner: Holder = null;
  private lockQueue: (Task | "main")[] = [];
  private ioQueue: Task[] = [];
  /** Woken by the request coroutine (lock hand-off): they run when it next yields. */
  private mainWoken: Task[] = [];
  /** Woken by the running task: they run as soon as it yields (QEMU's co_queue_wakeup, depth first). */
  private taskWoken: Task[] = [];
  private tasks: Task[] = [];
  private current: Task | null = null;
  private nextId = 0;
  private inYield = false;
  /** The first task failure (aio_task_pool_status). */
  private error: GuestIoError | undefined;

  /** A task has failed: the request issues no further chunks. */
  get failed(): boolean {
    return this.error !== undefined;
  }

  /** True while a task's code is running (its inner I/O must not yield the request coroutine). */
  get inTask(): boolean {
    return this.current !== null;
  }

  /** The request coroutine does I/O: everything woken or completed before it runs now. */
  mainIo(): void {
    if (this.current || this.inYield) return;
    this.inYield = true;
    try {
      this.runMainWoken();
      const done = this.ioQueue.splice(0);
      for (const t of done) this.resume(t);
    } finally {
      this.inYield = false;
    }
  }

  mainLock(): void {
    if (this.owner === null) {
      this.owner = "main";
      return;
    }
    this.lockQueue.push("main");
    this.yieldUntil(() => this.owner === "main");
  }

  mainUnlock(): void {
    this.handOff();
  }

  /** qcow2_add_task with a pool: the task coroutine is entered at once and runs to its first yield. */
  enter(gen: Generator<Wait, void, void>): void {
    const t: Task = { id: this.nextId++, gen, done: false };
    this.tasks.push(t);
    this.resume(t);
  }

  /** aio_task_pool_wait_all. */
  waitAll(): void {
    this.yieldUntil(() => this.tasks.every((t) => t.done));
    this.tasks = [];
    const e = this.error;
    this.error = undefined;
    if (e) throw e;
  }

  /** Inside a task: try to take s->lock; if this returns false the task must `yield "lock"`. */
  tryLock(): boolean {
    const t = this.current!;
    if (this.owner === null) {
      this.owner = t;
      return true;
    }
    if (this.owner === t) return true;
    this.lockQueue.push(t);
    return false;
  }

  /** Inside a task: release s->lock. */
  unlock(): void {
    this.handOff();
  }

  private handOff(): void {
    const next = this.lockQueue.shift();
    if (next === undefined) {
      this.owner = null;
      return;
    }
    this.owner = next;
    if (next === "main") return;
    if (this.current) this.taskWoken.push(next);
    else this.mainWoken.push(next);
  }

  private resume(t: Task): void {
    const prev = this.current;
    this.current = t;
    try {
      let r: IteratorResult<Wait, void>;
      try {
        r = t.gen.next();
      } catch (e) {
        if (!(e instanceof GuestIoError)) throw e;
        this.error ??= e;
        r = { done: true, value: undefined };
      }
      if (r.done) {
        t.done = true;
        if (this.owner === t) this.handOff();
      } else if (r.value === "io") this.ioQueue.push(t);
      // "lock": the task queued itself in tryLock and waits to be handed the lock.
    } finally {
      this.current = prev;
    }
    while (this.taskWoken.length) this.resume(this.taskWoken.shift()!);
  }

  private runMainWoken(): void {
    while (this.mainWoken.length) this.resume(this.mainWoken.shift()!);
  }

  private yieldUntil(cond: () => boolean): void {
    let guard = 0;
    while (!cond()) {
      const before = this.mainWoken.length + this.ioQueue.length;
      if (before === 0) throw new Error("coroutine model: deadlock (nothing can run)");
      this.runMainWoken();
      if (cond()) break;
      // With nothing of its own in flight, the request coroutine waits for the thread pool's completion
      // bottom half, which walks its list newest first.
      const done = this.ioQueue.splice(0).reverse();
      for (const t of done) this.resume(t);
      if (++guard > 1_000_000) throw new Error("coroutine model: no progress");
    }
  }
}
