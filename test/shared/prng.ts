// The engine's mulberry32 (engine/prng.ts): seeded corpora and fuzz cases are the same on every machine.
export { prng } from "../../engine/prng.js";
