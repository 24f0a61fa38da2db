// The POSIX calls Node lacks, as QEMU's file layer (block/file-posix.c) makes them. Plain N-API so one build works
// across Node versions. lseek(SEEK_DATA/SEEK_HOLE), the query that reports holes as zeroes (find_allocation):
// seekData/seekHole(fd, offset) return the resulting offset or -errno. Open file description byte-range locks
// (qemu_lock_fd / qemu_lock_fd_test), the image locks QEMU takes: ofdLock(fd, start, len, exclusive) and
// ofdUnlock(fd, start, len) return 0 or -errno; ofdTest(fd, start, len, exclusive) returns 0 when the range
// could be locked, else the pid field of the conflicting lock (-1 for OFD locks) or -errno on failure.
// dropCache(fd, offset, len) (posix_fadvise DONTNEED) after reads that QEMU makes with O_DIRECT, and
// readahead(fd, on) (POSIX_FADV_NORMAL / RANDOM) so that such a read brings in no pages past its range.
// hugeBuffer(bytes): memory for the replay's big buffers on 2 MiB boundaries, madvise(MADV_HUGEPAGE) (see
// engine/storage/huge-region.ts).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>
#include <node_api.h>

static napi_value seek(napi_env env, napi_callback_info info, int whence) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2) {
    napi_throw_type_error(env, nullptr, "expected (fd, offset)");
    return nullptr;
  }
  int32_t fd = -1;
  int64_t offset = 0;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &offset) != napi_ok) {
    napi_throw_type_error(env, nullptr, "fd and offset must be numbers");
    return nullptr;
  }
  int64_t r;
#if defined(SEEK_DATA) && defined(SEEK_HOLE)
  off_t got = lseek(fd, (off_t)offset, whence);
  r = got < 0 ? -(int64_t)errno : (int64_t)got;
#else
  (void)fd;
  (void)offset;
  (void)whence;
  r = -(int64_t)ENOTSUP;
#endif
  napi_value out;
  napi_create_int64(env, r, &out);
  return out;
}

static napi_value SeekData(napi_env env, napi_callback_info info) {
#ifdef SEEK_DATA
  return seek(env, info, SEEK_DATA);
#else
  return seek(env, info, 0);
#endif
}

static napi_value SeekHole(napi_env env, napi_callback_info info) {
#ifdef SEEK_HOLE
  return seek(env, info, SEEK_HOLE);
#else
  return seek(env, info, 0);
#endif
}

/** (fd, start, len[, exclusive]) from JS; false (after throwing) when they are not numbers. */
static bool lockArgs(napi_env env, napi_callback_info info, int32_t* fd, int64_t* start, int64_t* len, bool* exclusive) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], fd) != napi_ok || napi_get_value_int64(env, argv[1], start) != napi_ok ||
      napi_get_value_int64(env, argv[2], len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected (fd, start, len[, exclusive])");
    return false;
  }
  *exclusive = false;
  if (argc >= 4) napi_get_value_bool(env, argv[3], exclusive);
  return true;
}

static napi_value int64Value(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

#ifdef F_OFD_SETLK
static int64_t ofd(int fd, int cmd, short type, int64_t start, int64_t len, struct flock* fl) {
  memset(fl, 0, sizeof(*fl));
  fl->l_whence = SEEK_SET;
  fl->l_start = (off_t)start;
  fl->l_len = (off_t)len;
  fl->l_type = type;
  return fcntl(fd, cmd, fl) == -1 ? -(int64_t)errno : 0;
}
#endif

/** F_OFD_SETLK of a read or write lock (exclusive), or of F_UNLCK: 0 or -errno. */
static napi_value ofdSet(napi_env env, napi_callback_info info, bool unlock) {
  int32_t fd;
  int64_t start, len;
  bool exclusive;
  if (!lockArgs(env, info, &fd, &start, &len, &exclusive)) return nullptr;
#ifdef F_OFD_SETLK
  struct flock fl;
  return int64Value(env, ofd(fd, F_OFD_SETLK, unlock ? F_UNLCK : exclusive ? F_WRLCK : F_RDLCK, start, len, &fl));
#else
  return int64Value(env, -(int64_t)ENOTSUP);
#endif
}

static napi_value OfdLock(napi_env env, napi_callback_info info) {
  return ofdSet(env, info, false);
}

static napi_value OfdUnlock(napi_env env, napi_callback_info info) {
  return ofdSet(env, info, true);
}

static napi_value OfdTest(napi_env env, napi_callback_info info) {
  int32_t fd;
  int64_t start, len;
  bool exclusive;
  if (!lockArgs(env, info, &fd, &start, &len, &exclusive)) return nullptr;
#ifdef F_OFD_GETLK
  struct flock fl;
  int64_t r = ofd(fd, F_OFD_GETLK, exclusive ? F_WRLCK : F_RDLCK, start, len, &fl);
  if (r < 0) return int64Value(env, r);
  // A conflicting OFD lock reports l_pid -1; a classic POSIX lock its owner's pid.
  return int64Value(env, fl.l_type == F_UNLCK ? 0 : (fl.l_pid == 0 ? -1 : (int64_t)fl.l_pid));
#else
  return int64Value(env, -(int64_t)ENOTSUP);
#endif
}

// dropCache(fd, offset, len): posix_fadvise(POSIX_FADV_DONTNEED), 0 or -errno. A buffered read leaves zero pages of
// an unwritten extent in the page cache, and ext4's SEEK_DATA then calls the range data; QEMU's O_DIRECT read
// (cache=none, directsync) leaves it a hole, which is what its later block-status queries see.
static napi_value DropCache(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd = -1;
  int64_t offset = 0, len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[2], &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected (fd, offset, len)");
    return nullptr;
  }
  int64_t r;
#ifdef POSIX_FADV_DONTNEED
  // The kernel drops only pages wholly inside the range; the read brought in the pages at its unaligned ends too.
  const int64_t page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
  const int64_t start = offset - offset % page;
  const int64_t end = offset + len + (page - (offset + len) % page) % page;
  r = -(int64_t)posix_fadvise(fd, (off_t)start, (off_t)(end - start), POSIX_FADV_DONTNEED);
#else
  r = -(int64_t)ENOTSUP;
#endif
  return int64Value(env, r);
}

// readahead(fd, on): posix_fadvise(fd, 0, 0, on ? POSIX_FADV_NORMAL : POSIX_FADV_RANDOM), 0 or -errno. A buffered
// read also reads ahead, and those pages of an unwritten extent are as much "data" to SEEK_DATA as the read's own
// (write fuzzer seed 170193): while reads stand in for O_DIRECT ones, readahead is off.
static napi_value Readahead(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  bool on = true;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected (fd, on)");
    return nullptr;
  }
  int64_t r;
#if defined(POSIX_FADV_RANDOM) && defined(POSIX_FADV_NORMAL)
  r = -(int64_t)posix_fadvise(fd, 0, 0, on ? POSIX_FADV_NORMAL : POSIX_FADV_RANDOM);
#else
  r = -(int64_t)ENOTSUP;
#endif
  return int64Value(env, r);
}

static const size_t HUGE_PAGE = (size_t)2 << 20;

static void FreeHuge(napi_env env, void* data, void* hint) {
  const size_t bytes = (size_t)(uintptr_t)hint;
  munmap(data, bytes);
  int64_t ignored;
  napi_adjust_external_memory(env, -(int64_t)bytes, &ignored);
}

// hugeBuffer(bytes): an ArrayBuffer of `bytes` zeroes (a positive multiple of 2 MiB) starting on a 2 MiB boundary,
// advised MADV_HUGEPAGE, so that a kernel with transparent huge pages (enabled "always" or "madvise") may back it
// with 2 MiB pages: one page fault and one TLB entry where 4 KiB pages take 512. Pages still come on first touch.
// Undefined when the mapping fails. The memory is unmapped when the buffer is collected, and counted as external
// memory meanwhile (as V8 counts its own ArrayBuffers), so the collector sees it.
static napi_value HugeBuffer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t want = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &want) != napi_ok || want <= 0 || (uint64_t)want % HUGE_PAGE != 0) {
    napi_throw_type_error(env, nullptr, "expected (bytes), a positive multiple of 2 MiB");
    return nullptr;
  }
  const size_t bytes = (size_t)want;
  // Map 2 MiB more than asked, then give back what lies before the first boundary and after the region.
  char* raw = (char*)mmap(nullptr, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == (char*)MAP_FAILED) return nullptr;
  char* p = (char*)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  if (p > raw) munmap(raw, (size_t)(p - raw));
  const size_t tail = (size_t)((raw + bytes + HUGE_PAGE) - (p + bytes));
  if (tail > 0) munmap(p + bytes, tail);
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);
#endif
  napi_value out;
  if (napi_create_external_arraybuffer(env, p, bytes, FreeHuge, (void*)(uintptr_t)bytes, &out) != napi_ok) {
    munmap(p, bytes);
    return nullptr;
  }
  int64_t ignored;
  napi_adjust_external_memory(env, (int64_t)bytes, &ignored);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"seekData", nullptr, SeekData, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"seekHole", nullptr, SeekHole, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ofdLock", nullptr, OfdLock, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ofdUnlock", nullptr, OfdUnlock, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ofdTest", nullptr, OfdTest, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dropCache", nullptr, DropCache, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"readahead", nullptr, Readahead, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"hugeBuffer", nullptr, HugeBuffer, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
