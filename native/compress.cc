// Compressing a qcow2 cluster with the libraries QEMU links, so that the stream (whose length decides where the
// next compressed cluster goes) is QEMU's: deflateRaw(data, capacity) through the system's zlib (libz.so.1; Node's
// bundled zlib is another fork and finds other matches), as qcow2_zlib_compress does (default level, window bits
// -12, memLevel 9, one Z_FINISH), and zstd(data, capacity) through libzstd.so.1, as qcow2_zstd_compress does (one
// ZSTD_compressStream2 with ZSTD_e_end at the default level). Each returns the output, or -ENOMEM when it does
// not fit in `capacity` bytes, -EIO on error, -ENOSYS when the library cannot be loaded.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>
#include <node_api.h>

typedef int (*InitFn)(z_streamp, int, int, int, int, int, const char*, int);
typedef int (*DeflateFn)(z_streamp, int);
typedef int (*EndFn)(z_streamp);
typedef const char* (*VersionFn)(void);

static InitFn init2;
static DeflateFn deflateFn;
static EndFn endFn;
static VersionFn versionFn;

// RTLD_DEEPBIND: node exports its own zlib's symbols, and libz's internal calls must not bind to them.
static bool load() {
  if (deflateFn) return true;
  void* h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) return false;
  init2 = (InitFn)dlsym(h, "deflateInit2_");
  deflateFn = (DeflateFn)dlsym(h, "deflate");
  endFn = (EndFn)dlsym(h, "deflateEnd");
  versionFn = (VersionFn)dlsym(h, "zlibVersion");
  if (!init2 || !deflateFn || !endFn || !versionFn) {
    deflateFn = nullptr;
    return false;
  }
  return true;
}

static napi_value Int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static napi_value DeflateRaw(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2) {
    napi_throw_type_error(env, nullptr, "expected (data, capacity)");
    return nullptr;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  int64_t capacity = 0;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_uint8_array ||
      napi_get_value_int64(env, argv[1], &capacity) != napi_ok || capacity < 0) {
    napi_throw_type_error(env, nullptr, "data must be a Uint8Array and capacity a byte count");
    return nullptr;
  }
  if (!load()) return Int(env, -ENOSYS);
  void* outData = nullptr;
  napi_value out;
  if (napi_create_buffer(env, (size_t)capacity, &outData, &out) != napi_ok) return nullptr;
  z_stream strm;
  memset(&strm, 0, sizeof(strm));
  // The version and size the system library was built for: ours must agree, as deflateInit2() would check.
  if (init2(&strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY, versionFn(), (int)sizeof(z_stream)) != Z_OK) return Int(env, -EIO);
  strm.avail_in = (uInt)length;
  strm.next_in = (Bytef*)data;
  strm.avail_out = (uInt)capacity;
  strm.next_out = (Bytef*)outData;
  int ret = deflateFn(&strm, Z_FINISH);
  int64_t produced = (int64_t)capacity - strm.avail_out;
  endFn(&strm);
  if (ret != Z_STREAM_END) return Int(env, ret == Z_OK ? -ENOMEM : -EIO);
  napi_value result;
  if (napi_create_buffer_copy(env, (size_t)produced, outData, nullptr, &result) != napi_ok) return nullptr;
  return result;
}

// libzstd's streaming types (zstd.h), declared here so that no zstd headers are needed to build.
struct ZstdIn {
  const void* src;
  size_t size;
  size_t pos;
};
struct ZstdOut {
  void* dst;
  size_t size;
  size_t pos;
};
typedef void* (*CreateCCtxFn)(void);
typedef size_t (*CompressStream2Fn)(void*, ZstdOut*, ZstdIn*, int);
typedef size_t (*FreeCCtxFn)(void*);
static CreateCCtxFn createCCtx;
static CompressStream2Fn compressStream2;
static FreeCCtxFn freeCCtx;
static const int ZSTD_e_end = 2;

static bool loadZstd() {
  if (compressStream2) return true;
  void* h = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) return false;
  createCCtx = (CreateCCtxFn)dlsym(h, "ZSTD_createCCtx");
  freeCCtx = (FreeCCtxFn)dlsym(h, "ZSTD_freeCCtx");
  compressStream2 = (CompressStream2Fn)dlsym(h, "ZSTD_compressStream2");
  if (!createCCtx || !freeCCtx || !compressStream2) {
    compressStream2 = nullptr;
    return false;
  }
  return true;
}

static napi_value Zstd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  int64_t capacity = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_uint8_array ||
      napi_get_value_int64(env, argv[1], &capacity) != napi_ok || capacity < 0) {
    napi_throw_type_error(env, nullptr, "expected (data: Uint8Array, capacity)");
    return nullptr;
  }
  if (!loadZstd()) return Int(env, -ENOSYS);
  void* outData = nullptr;
  napi_value out;
  if (napi_create_buffer(env, (size_t)capacity, &outData, &out) != napi_ok) return nullptr;
  void* cctx = createCCtx();
  if (!cctx) return Int(env, -EIO);
  ZstdOut output = {outData, (size_t)capacity, 0};
  ZstdIn input = {data, length, 0};
  // As QEMU: one call; anything left over means it did not fit (or an error code, which is larger still).
  size_t ret = compressStream2(cctx, &output, &input, ZSTD_e_end);
  freeCCtx(cctx);
  if (ret) return Int(env, ret > output.size - output.pos ? -ENOMEM : -EIO);
  napi_value result;
  if (napi_create_buffer_copy(env, output.pos, outData, nullptr, &result) != napi_ok) return nullptr;
  return result;
}

static napi_value HasZstd(napi_env env, napi_callback_info) {
  napi_value out;
  napi_get_boolean(env, loadZstd(), &out);
  return out;
}

static napi_value Version(napi_env env, napi_callback_info) {
  napi_value out;
  if (!load()) napi_get_null(env, &out);
  else napi_create_string_utf8(env, versionFn(), NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"deflateRaw", nullptr, DeflateRaw, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"version", nullptr, Version, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"zstd", nullptr, Zstd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"hasZstd", nullptr, HasZstd, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
