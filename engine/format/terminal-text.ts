// The one escaping function for untrusted text on its way to a terminal: names and bytes from images and traces
// (backing file names, snapshot names, device ids, trace lines) may hold escape sequences that retitle or clear
// the terminal, or a newline that forges an extra output line. Control characters become \xNN; JSON output does
// not go through here (JSON.stringify already escapes them, and must stay exact).

// C0 controls, DEL and C1 controls (U+0080..U+009F, which some terminals also obey). Matching control characters
// is the point here, hence the lint exceptions.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_LINES = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

function hex(c: string): string {
  return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
}

/** Every control character as \xNN (newlines and tabs too): for one field or one line. */
export function escapeControl(s: string): string {
  return s.replace(CONTROL, hex);
}

/** Control characters as \xNN except newline and tab: for text that is already several lines. */
export function escapeControlKeepLines(s: string): string {
  return s.replace(CONTROL_BUT_LINES, hex);
}
