// lseek(SEEK_DATA/SEEK_HOLE) for Node: the one query QEMU's file layer uses to report holes as zeroes
// (file-posix.c find_allocation). Plain N-API so one build works across Node versions.
// Both functions take (fd, offset) and return the resulting offset, or -errno when lseek fails.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
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

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"seekData", nullptr, SeekData, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"seekHole", nullptr, SeekHole, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
