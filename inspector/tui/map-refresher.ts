// Rebuilds a stale host map while the user pauses: after MAP_IDLE_MS without a key or change (never during a run),
// in steps of MAP_STEP_MS between which keys are read (the map of a 100 GiB image takes a few hundred ms). Any
// key interrupts a build, as the engine may move next (see SessionViews.deferMap).
import type { SessionViews } from "../session/session-views.js";

/** The host map is rebuilt once the keys pause this long, this long at a time. */
const MAP_IDLE_MS = 120;
const MAP_STEP_MS = 12;

export interface MapRefreshHost {
  /** Someone draws the screen (mounted): otherwise nothing to refresh, and the session may be closed already. */
  drawing(): boolean;
  /** A run is in flight or keys are queued: wait for the next pause. */
  busy(): boolean;
  /** The map was rebuilt (or failed to be, with the error's message): redraw. */
  built(error?: string): void;
}

export class MapRefresher {
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Bumped by every key and change: a build in steps stops when it moves. */
  private gen = 0;

  constructor(
    private readonly views: SessionViews,
    private readonly host: MapRefreshHost,
  ) {}

  /** Something changed: drop a build in progress and start one after the next pause. */
  schedule(): void {
    this.interrupt();
    if (this.timer) clearTimeout(this.timer);
    if (!this.host.drawing()) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const gen = this.gen;
      const step = (): void => {
        if (gen !== this.gen || !this.host.drawing()) return;
        if (this.host.busy()) return this.schedule();
        let error: string | undefined;
        try {
          if (!this.views.mapStale()) return;
          if (!this.views.refreshMapStep(MAP_STEP_MS)) return void setImmediate(step);
        } catch (e) {
          error = (e as Error).message;
        }
        this.host.built(error);
      };
      step();
    }, MAP_IDLE_MS);
    this.timer.unref?.();
  }

  /** A key: a build in steps must not go on over what it does. */
  interrupt(): void {
    this.gen++;
    this.views.cancelMapBuild();
  }

  /** Nobody draws any more (unmounted, quit). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
