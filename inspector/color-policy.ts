// Whether the interactive faces may use colour: FORCE_COLOR (set and not 0/false) says yes, as chalk reads it;
// otherwise NO_COLOR (no-color.org: set and not empty) says no; otherwise colour on a terminal. Without colour
// the TUI keeps what is not colour - bold, underline, inverse video - so nothing it marks is lost.

export function colorsWanted(env: NodeJS.ProcessEnv = process.env, isTTY = Boolean(process.stdout.isTTY)): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !(force === "0" || force === "false");
  if (env.NO_COLOR) return false;
  return isTTY;
}

/** Decided once at start-up: the environment does not change under a running TUI. */
export const COLOR = colorsWanted();
