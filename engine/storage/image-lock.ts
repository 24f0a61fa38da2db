// Image locks as QEMU's file layer takes them (block/file-posix.c raw_apply_lock_bytes/raw_check_lock_bytes):
// one OFD read lock on byte 100+i for each permission i held, and on byte 200+i for each permission not shared
// with others. A new user tests the bytes that would conflict first, so qcowdbg and qemu-io/qemu-img/QEMU
// exclude each other exactly as two QEMU processes do.
import { posix } from "./native.js";

/** BLK_PERM_* bits (QEMU 7.2) and their names as bdrv_perm_names() prints them. */
export const PERM_CONSISTENT_READ = 1;
export const PERM_WRITE = 2;
export const PERM_WRITE_UNCHANGED = 4;
export const PERM_RESIZE = 8;
const PERM_ALL = 0xf;
const PERM_NAMES = ["consistent read", "write", "write unchanged", "resize"];
const PERM_BASE = 100;
const SHARED_BASE = 200;

export interface LockRequest {
  perm: number;
  shared: number;
}

/** What qemu-io/qemu-img take on an image file they open read-write, read-only, or read-only with -U. */
export const LOCK_WRITE: LockRequest = { perm: PERM_CONSISTENT_READ | PERM_WRITE | PERM_RESIZE, shared: PERM_CONSISTENT_READ | PERM_WRITE_UNCHANGED };
export const LOCK_READ: LockRequest = { perm: PERM_CONSISTENT_READ, shared: PERM_CONSISTENT_READ | PERM_WRITE_UNCHANGED };
export const LOCK_FORCE_SHARE: LockRequest = { perm: PERM_CONSISTENT_READ, shared: PERM_ALL };

let forceShare = false;

/** -U/--force-share: read-only opens share every permission (they still hold "consistent read"). */
export function setForceShare(on: boolean): void {
  forceShare = on;
}
export function forceShareEnabled(): boolean {
  return forceShare;
}

/** Runs fn with read-only opens sharing every permission: for a second look at an image this process holds open
 *  itself (OFD locks conflict between two descriptions of one file even in one process). */
export function withForceShare<T>(fn: () => T): T {
  const was = forceShare;
  forceShare = true;
  try {
    return fn();
  } finally {
    forceShare = was;
  }
}

export function imageLocksAvailable(): boolean {
  return posix !== null;
}

export class ImageLockError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = "ImageLockError";
  }
}

const EAGAIN = 11;
const EACCES = 13;

/**
 * Takes the lock bytes of `req` on `fd` and checks that nobody holds a conflicting one, as raw_handle_perm_lock
 * does at open (apply, then check; on a conflict the bytes are released again). Writable opens need the addon:
 * without it the image is not opened for writing at all. Read-only opens go on unlocked, as QEMU does where the
 * file system has no OFD locks.
 */
export function lockImage(fd: number, file: string, writable: boolean): void {
  const req = writable ? LOCK_WRITE : forceShare ? LOCK_FORCE_SHARE : LOCK_READ;
  if (!posix) {
    if (writable) throw new ImageLockError(file, "cannot take the image lock (the native addon dist/native/posix.node was not built: run `node scripts/build-native.mjs`); refusing to write without it");
    return;
  }
  const addon = posix;
  const fail = (detail: string): never => {
    unlockImage(fd);
    throw new ImageLockError(file, `${detail}. Is another process using the image [${file}]?${writable ? "" : " (-U/--force-share reads it anyway)"}`);
  };
  for (let i = 0; i < PERM_NAMES.length; i++) {
    const take = (off: number) => {
      const r = addon.ofdLock(fd, off, 1, false);
      if (r === -EAGAIN || r === -EACCES) fail(`Failed to lock byte ${off}`);
      // Other errors (ENOTSUP, ENOLCK on some file systems): QEMU's locking=auto carries on without locks.
    };
    if (req.perm & (1 << i)) take(PERM_BASE + i);
    if (!(req.shared & (1 << i))) take(SHARED_BASE + i);
  }
  // raw_check_lock_bytes: someone who does not share what we need, or holds what we do not share.
  for (let i = 0; i < PERM_NAMES.length; i++) {
    if (req.perm & (1 << i) && addon.ofdTest(fd, SHARED_BASE + i, 1, true) !== 0) fail(`Failed to get "${PERM_NAMES[i]}" lock`);
  }
  for (let i = 0; i < PERM_NAMES.length; i++) {
    if (!(req.shared & (1 << i)) && addon.ofdTest(fd, PERM_BASE + i, 1, true) !== 0) fail(`Failed to get shared "${PERM_NAMES[i]}" lock`);
  }
}

/** Releases every lock byte (closing the descriptor does too). */
export function unlockImage(fd: number): void {
  posix?.ofdUnlock(fd, PERM_BASE, SHARED_BASE - PERM_BASE + PERM_NAMES.length);
}
