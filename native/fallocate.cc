// fallocate(2) for Node: how QEMU's file-posix layer discards (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) and
// writes zeroes (FALLOC_FL_ZERO_RANGE), so an image file's allocation matches what QEMU leaves on the host.
// fallocate(fd, mode, offset, length) with mode 1 = punch a hole (size kept), 2 = zero range; returns 0 or -errno.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <node_api.h>

static napi_value Fallocate(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 4) {
    napi_throw_type_error(env, nullptr, "expected (fd, mode, offset, length)");
    return nullptr;
  }
  int32_t fd = -1, mode = 0;
  int64_t offset = 0, length = 0;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &mode) != napi_ok ||
      napi_get_value_int64(env, argv[2], &offset) != napi_ok || napi_get_value_int64(env, argv[3], &length) != napi_ok) {
    napi_throw_type_error(env, nullptr, "fd, mode, offset and length must be numbers");
    return nullptr;
  }
  int64_t r = -(int64_t)ENOTSUP;
#if defined(__linux__) && defined(FALLOC_FL_PUNCH_HOLE) && defined(FALLOC_FL_ZERO_RANGE)
  int flags = mode == 1 ? (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) : mode == 2 ? FALLOC_FL_ZERO_RANGE : -1;
  if (flags < 0) r = -(int64_t)EINVAL;
  else {
    int ret;
    do ret = fallocate(fd, flags, (off_t)offset, (off_t)length);
    while (ret < 0 && errno == EINTR);
    r = ret < 0 ? -(int64_t)errno : 0;
  }
#else
  (void)fd;
  (void)mode;
  (void)offset;
  (void)length;
#endif
  napi_value out;
  napi_create_int64(env, r, &out);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"fallocate", nullptr, Fallocate, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
