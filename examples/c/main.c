/* sepconv C ABI example and test: loads a model, runs it on an input, compares with the
 * expected output, exercises every error path, frees everything. With the two int8 files,
 * also quantizes the model to int8 and checks its runs against them.
 *
 *   usage: sepconv_c MODEL.onnx|.tflite|.safetensors INPUT.npy EXPECTED.npy nchw|nhwc
 *          [INT8_CODES.npy INT8_EXPECTED.npy]
 *
 * INT8_CODES.npy holds the input's u8 codes (NHWC, as floats) and INT8_EXPECTED.npy the
 * int8 model's f32 output, as tests/c_abi.rs computes them with the Rust API (the model
 * quantized on 1 seeded calibration image, seed 7).
 *
 * Build (static):  cc -std=c11 -Iinclude examples/c/main.c target/release/libsepconv.a -lpthread -ldl -lm
 * Build (shared):  cc -std=c11 -Iinclude examples/c/main.c -Ltarget/release -lsepconv
 * Exit status 0 when every check passes. */
#include "sepconv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
      failures++;                                          \
    }                                                      \
  } while (0)

/* Expects `call` to return `status` with a non-empty last error. */
#define EXPECT_ERROR(call, status)                                                    \
  do {                                                                                \
    SepconvStatus s_ = (call);                                                        \
    CHECK(s_ == (status), "%s returned %d, expected %d (%s)", #call, (int)s_,        \
          (int)(status), sepconv_last_error());                                       \
    CHECK(strlen(sepconv_last_error()) > 0, "%s left no error message", #call);      \
  } while (0)

/* Reads a little-endian f32 .npy file (format 1.0/2.0); returns the element count. */
static float *read_npy(const char *path, size_t *count) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char magic[10];
  float *data = NULL;
  if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6) != 0) goto done;
  size_t header_len;
  if (magic[6] == 1) {
    unsigned char b[2];
    if (fread(b, 1, 2, f) != 2) goto done;
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) goto done;
    header_len = b[0] | (b[1] << 8) | ((size_t)b[2] << 16) | ((size_t)b[3] << 24);
  }
  char *header = malloc(header_len + 1);
  if (!header || fread(header, 1, header_len, f) != header_len) {
    free(header);
    goto done;
  }
  header[header_len] = 0;
  int ok = strstr(header, "'<f4'") != NULL && strstr(header, "'fortran_order': False") != NULL;
  free(header);
  if (!ok) goto done;
  long start = ftell(f);
  fseek(f, 0, SEEK_END);
  size_t bytes = (size_t)(ftell(f) - start);
  fseek(f, start, SEEK_SET);
  *count = bytes / 4;
  data = malloc(bytes ? bytes : 4);
  if (data && fread(data, 4, *count, f) != *count) {
    free(data);
    data = NULL;
  }
done:
  fclose(f);
  return data;
}


/* The calibration tests/c_abi.rs quantizes with. */
#define CALIBRATION_IMAGES 1
#define CALIBRATION_SEED 7

/* The int8 model of `path` (quantized on seeded calibration images) against the Rust run:
 * f32 in (in `layout`), u8 and i8 codes in, codes out where the model ends in a quantized
 * tensor; its error paths. `f32_model` and `f32_ws` are the float model and its
 * workspace. */
static void check_int8(const char *path, const uint8_t *bytes, size_t file_len, int32_t layout,
                       const float *input, size_t in_len, const char *codes_path,
                       const char *want_path, struct SepconvModel *f32_model,
                       struct SepconvWorkspace *f32_ws) {
  size_t n_codes = 0, n_want = 0;
  float *codes_f = read_npy(codes_path, &n_codes);
  float *want = read_npy(want_path, &n_want);
  CHECK(codes_f && want && n_codes == in_len, "int8 files %s, %s", codes_path, want_path);
  struct SepconvOptions opts = sepconv_options_default();
  opts.threads = 2;
  struct SepconvModel *q = NULL;
  SepconvStatus s =
      sepconv_model_load_file_int8(path, CALIBRATION_IMAGES, CALIBRATION_SEED, &opts, &q);
  CHECK(s == SEPCONV_STATUS_OK && q, "load_file_int8: %s", sepconv_last_error());
  if (!q || !codes_f || !want) {
    free(codes_f);
    free(want);
    sepconv_model_free(q);
    return;
  }
  struct SepconvQuantInfo qi;
  CHECK(sepconv_model_quant_info(q, &qi) == SEPCONV_STATUS_OK, "quant_info: %s",
        sepconv_last_error());
  printf("int8: input scale %g zero point %d, output %s\n", qi.input_scale, qi.input_zero_point,
         qi.output_quantized ? "codes" : "f32");
  CHECK(qi.quantized == 1 && qi.input_scale > 0.0f && qi.input_zero_point >= 0 &&
            qi.input_zero_point <= 255,
        "int8 model quantization");
  /* Quantized here from a float file: float edges. */
  CHECK(qi.input_dtype == SEPCONV_DTYPE_F32 && qi.output_dtype == SEPCONV_DTYPE_F32,
        "dtypes %d %d", qi.input_dtype, qi.output_dtype);
  struct SepconvModelInfo info;
  CHECK(sepconv_model_info(q, &info) == SEPCONV_STATUS_OK && info.threads == 2, "int8 info");
  size_t out_len = info.classes;
  CHECK(n_want == out_len, "int8 expected length %zu", n_want);

  struct SepconvWorkspace *ws = NULL;
  CHECK(sepconv_workspace_create(q, 1, &ws) == SEPCONV_STATUS_OK, "int8 workspace");
  float *out = calloc(out_len, sizeof(float));
  uint8_t *u8 = malloc(in_len);
  int8_t *i8 = malloc(in_len);
  uint8_t *out_u8 = malloc(out_len);
  int8_t *out_i8 = malloc(out_len);
  for (size_t i = 0; i < in_len; i++) {
    u8[i] = (uint8_t)codes_f[i];
    i8[i] = (int8_t)((int)u8[i] - 128);
  }
  /* Quantized here as quant_info says (scale, zero point, rounding; nearbyintf rounds half
   * to even): the codes the Rust run computed from the same floats. */
  /* sepconv's quantizer divides, as the QuantizeLinear of the ONNX files it writes. */
  CHECK(qi.input_rounding == SEPCONV_ROUNDING_DIVIDE, "input rounding %d", qi.input_rounding);
  size_t hw = in_len / 3, off_by = 0;
  for (size_t i = 0; i < in_len; i++) {
    float x = layout == SEPCONV_LAYOUT_NCHW ? input[(i % 3) * hw + i / 3] : input[i];
    float v = qi.input_rounding == SEPCONV_ROUNDING_DIVIDE ? x / qi.input_scale
                                                            : x * (1.0f / qi.input_scale);
    float r = nearbyintf(v) + (float)qi.input_zero_point;
    off_by += (r < 0.0f ? 0 : r > 255.0f ? 255 : (uint8_t)r) != u8[i];
  }
  CHECK(off_by == 0, "%zu input codes quantized here differ from Rust's", off_by);
  s = sepconv_run(q, ws, input, in_len, 1, layout, out, out_len);
  CHECK(s == SEPCONV_STATUS_OK, "int8 run: %s", sepconv_last_error());
  CHECK(memcmp(out, want, out_len * sizeof(float)) == 0, "int8 f32 run differs from Rust's");
  memset(out, 0, out_len * sizeof(float));
  s = sepconv_run_int8(q, ws, u8, in_len, SEPCONV_DTYPE_U8, 1, out, out_len, SEPCONV_DTYPE_F32);
  CHECK(s == SEPCONV_STATUS_OK, "run_int8 u8: %s", sepconv_last_error());
  CHECK(memcmp(out, want, out_len * sizeof(float)) == 0, "u8 codes in differ from Rust's");
  memset(out, 0, out_len * sizeof(float));
  s = sepconv_run_int8(q, ws, i8, in_len, SEPCONV_DTYPE_I8, 1, out, out_len, SEPCONV_DTYPE_F32);
  CHECK(s == SEPCONV_STATUS_OK, "run_int8 i8: %s", sepconv_last_error());
  CHECK(memcmp(out, want, out_len * sizeof(float)) == 0, "i8 codes in differ from Rust's");
  if (qi.output_quantized) {
    /* The output's codes: dequantized, the f32 output. */
    s = sepconv_run_int8(q, ws, u8, in_len, SEPCONV_DTYPE_U8, 1, out_u8, out_len,
                         SEPCONV_DTYPE_U8);
    CHECK(s == SEPCONV_STATUS_OK, "run_int8 u8 out: %s", sepconv_last_error());
    s = sepconv_run_int8(q, ws, u8, in_len, SEPCONV_DTYPE_U8, 1, out_i8, out_len,
                         SEPCONV_DTYPE_I8);
    CHECK(s == SEPCONV_STATUS_OK, "run_int8 i8 out: %s", sepconv_last_error());
    int bad = 0;
    for (size_t i = 0; i < out_len; i++) {
      float v = qi.output_scale * (float)((int)out_u8[i] - qi.output_zero_point);
      bad += memcmp(&v, &want[i], sizeof v) != 0 || out_i8[i] != (int)out_u8[i] - 128;
    }
    CHECK(bad == 0, "%d output codes differ from the f32 output", bad);
  } else {
    EXPECT_ERROR(sepconv_run_int8(q, ws, u8, in_len, SEPCONV_DTYPE_U8, 1, out_u8, out_len,
                                  SEPCONV_DTYPE_U8),
                 SEPCONV_STATUS_INVALID_ARGUMENT);
  }

  /* The same model from memory, on one thread: the same bits. */
  struct SepconvModel *q2 = NULL;
  s = sepconv_model_load_memory_int8(bytes, file_len, CALIBRATION_IMAGES, CALIBRATION_SEED, NULL,
                                     &q2);
  CHECK(s == SEPCONV_STATUS_OK && q2, "load_memory_int8: %s", sepconv_last_error());
  struct SepconvWorkspace *ws2 = NULL;
  CHECK(sepconv_workspace_create(q2, 1, &ws2) == SEPCONV_STATUS_OK, "int8 workspace 2");
  memset(out, 0, out_len * sizeof(float));
  CHECK(sepconv_run(q2, ws2, input, in_len, 1, layout, out, out_len) == SEPCONV_STATUS_OK,
        "int8 run 2");
  CHECK(memcmp(out, want, out_len * sizeof(float)) == 0, "int8 model from memory differs");

  /* Error paths. */
  EXPECT_ERROR(sepconv_run_int8(f32_model, f32_ws, u8, in_len, SEPCONV_DTYPE_U8, 1, out, out_len,
                                SEPCONV_DTYPE_F32),
               SEPCONV_STATUS_INVALID_ARGUMENT);
  EXPECT_ERROR(sepconv_run_int8(q, ws, NULL, in_len, SEPCONV_DTYPE_U8, 1, out, out_len,
                                SEPCONV_DTYPE_F32),
               SEPCONV_STATUS_NULL_POINTER);
  EXPECT_ERROR(sepconv_run_int8(q, ws, u8, in_len, SEPCONV_DTYPE_U8, 1, NULL, out_len,
                                SEPCONV_DTYPE_F32),
               SEPCONV_STATUS_NULL_POINTER);
  EXPECT_ERROR(sepconv_run_int8(NULL, ws, u8, in_len, SEPCONV_DTYPE_U8, 1, out, out_len,
                                SEPCONV_DTYPE_F32),
               SEPCONV_STATUS_NULL_POINTER);
  EXPECT_ERROR(sepconv_run_int8(q, ws, u8, in_len - 1, SEPCONV_DTYPE_U8, 1, out, out_len,
                                SEPCONV_DTYPE_F32),
               SEPCONV_STATUS_SHAPE);
  EXPECT_ERROR(sepconv_run_int8(q, ws, u8, in_len, SEPCONV_DTYPE_U8, 1, out, out_len + 1,
                                SEPCONV_DTYPE_F32),
               SEPCONV_STATUS_SHAPE);
  EXPECT_ERROR(sepconv_run_int8(q, ws, u8, in_len, SEPCONV_DTYPE_U8, 2, out, out_len,
                                SEPCONV_DTYPE_F32),
               SEPCONV_STATUS_SHAPE);
  EXPECT_ERROR(sepconv_run_int8(q, ws, input, in_len, SEPCONV_DTYPE_F32, 1, out, out_len,
                                SEPCONV_DTYPE_F32),
               SEPCONV_STATUS_INVALID_ARGUMENT);
  EXPECT_ERROR(sepconv_run_int8(q, ws, u8, in_len, 9, 1, out, out_len, SEPCONV_DTYPE_F32),
               SEPCONV_STATUS_INVALID_ARGUMENT);
  EXPECT_ERROR(sepconv_run_int8(q, ws, u8, in_len, SEPCONV_DTYPE_U8, 1, out, out_len, 9),
               SEPCONV_STATUS_INVALID_ARGUMENT);
  /* Another model's workspace, of the other kind, and of the same kind. */
  EXPECT_ERROR(sepconv_run(q, f32_ws, input, in_len, 1, layout, out, out_len), SEPCONV_STATUS_SHAPE);
  EXPECT_ERROR(sepconv_run_int8(q, f32_ws, u8, in_len, SEPCONV_DTYPE_U8, 1, out, out_len,
                                SEPCONV_DTYPE_F32),
               SEPCONV_STATUS_SHAPE);
  EXPECT_ERROR(sepconv_run(f32_model, ws, input, in_len, 1, layout, out, out_len),
               SEPCONV_STATUS_SHAPE);
  EXPECT_ERROR(sepconv_model_quant_info(q, NULL), SEPCONV_STATUS_NULL_POINTER);
  EXPECT_ERROR(sepconv_model_quant_info(NULL, &qi), SEPCONV_STATUS_NULL_POINTER);
  CHECK(sepconv_model_quant_info(f32_model, &qi) == SEPCONV_STATUS_OK && qi.quantized == 0 &&
            qi.input_dtype == SEPCONV_DTYPE_F32 && qi.output_dtype == SEPCONV_DTYPE_F32,
        "an f32 model's quant info");
  struct SepconvModel *bad = NULL;
  EXPECT_ERROR(sepconv_model_load_file_int8(path, 0, 7, NULL, &bad),
               SEPCONV_STATUS_INVALID_ARGUMENT);
  EXPECT_ERROR(sepconv_model_load_file_int8(NULL, 1, 7, NULL, &bad), SEPCONV_STATUS_NULL_POINTER);
  EXPECT_ERROR(sepconv_model_load_memory_int8(bytes, file_len / 2, 1, 7, NULL, &bad),
               SEPCONV_STATUS_MODEL);
  EXPECT_ERROR(sepconv_model_builtin_int8(NULL, 1, 1, NULL, &bad), SEPCONV_STATUS_NULL_POINTER);
  CHECK(bad == NULL, "failed int8 calls left a handle");

  /* A built-in int8 model, from a config. */
  struct SepconvConfig cfg = sepconv_config_default();
  cfg.alpha = 0.25f;
  cfg.resolution = 32;
  cfg.classes = 10;
  struct SepconvModel *builtin = NULL;
  CHECK(sepconv_model_builtin_int8(&cfg, 42, 1, NULL, &builtin) == SEPCONV_STATUS_OK,
        "builtin_int8: %s", sepconv_last_error());
  CHECK(sepconv_model_quant_info(builtin, &qi) == SEPCONV_STATUS_OK && qi.quantized == 1 &&
            qi.output_quantized == 0 && qi.input_rounding == SEPCONV_ROUNDING_DIVIDE,
        "builtin int8 quant info (softmax: f32 out)");
  CHECK(sepconv_model_free(builtin) == SEPCONV_STATUS_OK, "free builtin int8");

  CHECK(sepconv_workspace_free(ws2) == SEPCONV_STATUS_OK, "free int8 ws2");
  CHECK(sepconv_model_free(q2) == SEPCONV_STATUS_OK, "free int8 model 2");
  CHECK(sepconv_workspace_free(ws) == SEPCONV_STATUS_OK, "free int8 ws");
  CHECK(sepconv_model_free(q) == SEPCONV_STATUS_OK, "free int8 model");
  free(out);
  free(u8);
  free(i8);
  free(out_u8);
  free(out_i8);
  free(codes_f);
  free(want);
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 7) {
    fprintf(stderr, "usage: %s MODEL INPUT.npy EXPECTED.npy nchw|nhwc [INT8_CODES.npy INT8_EXPECTED.npy]\n", argv[0]);
    return 2;
  }
  int32_t layout = strcmp(argv[4], "nchw") == 0 ? SEPCONV_LAYOUT_NCHW : SEPCONV_LAYOUT_NHWC;
  size_t in_len = 0, want_len = 0;
  float *input = read_npy(argv[2], &in_len);
  float *want = read_npy(argv[3], &want_len);
  if (!input || !want) {
    fprintf(stderr, "cannot read %s or %s\n", argv[2], argv[3]);
    return 2;
  }
  printf("sepconv %s\n", sepconv_version());

  /* Load from the file path and from memory; both must work. */
  struct SepconvOptions opts = sepconv_options_default();
  opts.threads = 2;
  struct SepconvModel *model = NULL;
  SepconvStatus s = sepconv_model_load_file(argv[1], &opts, &model);
  CHECK(s == SEPCONV_STATUS_OK && model, "load_file: %s", sepconv_last_error());
  if (!model) return 1;

  FILE *f = fopen(argv[1], "rb");
  fseek(f, 0, SEEK_END);
  size_t file_len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *bytes = malloc(file_len);
  CHECK(fread(bytes, 1, file_len, f) == file_len, "read model bytes");
  fclose(f);
  /* The second model runs on one thread, with every depthwise layer fused. */
  struct SepconvOptions opts2 = sepconv_options_default();
  opts2.fuse = SEPCONV_FUSE_ALWAYS;
  struct SepconvModel *model2 = NULL;
  s = sepconv_model_load_memory(bytes, file_len, &opts2, &model2);
  CHECK(s == SEPCONV_STATUS_OK && model2, "load_memory: %s", sepconv_last_error());

  struct SepconvModelInfo info;
  CHECK(sepconv_model_info(model, &info) == SEPCONV_STATUS_OK, "info");
  printf("model: resolution %u, classes %u, alpha %.3f, isa %s, threads %u\n", info.resolution,
         info.classes, info.alpha, sepconv_isa_name(info.isa), info.threads);
  printf("features:");
  for (uint32_t bit = 1; bit != 0; bit <<= 1) {
    if (info.features & bit) printf(" %s", sepconv_feature_name(bit));
  }
  printf("\n");
  {
    /* The model was built with SEPCONV_ISA_AUTO: what sepconv_selected_cpu reports. */
    enum SepconvIsa isa;
    uint32_t features = 0;
    CHECK(sepconv_selected_cpu(&isa, &features) == SEPCONV_STATUS_OK, "sepconv_selected_cpu");
    CHECK(isa == info.isa && features == info.features, "model info disagrees with the selected CPU");
    CHECK((features & ~sepconv_isa_features(isa)) == 0, "selected features the ISA lacks");
    CHECK(sepconv_selected_cpu(NULL, NULL) == SEPCONV_STATUS_OK, "null outputs are allowed");
  }
  CHECK(in_len == (size_t)info.resolution * info.resolution * 3, "input length %zu", in_len);
  CHECK(want_len == info.classes, "expected length %zu", want_len);

  struct SepconvWorkspace *ws = NULL;
  CHECK(sepconv_workspace_create(model, 1, &ws) == SEPCONV_STATUS_OK, "workspace");
  float *out = calloc(info.classes, sizeof(float));
  s = sepconv_run(model, ws, input, in_len, 1, layout, out, info.classes);
  CHECK(s == SEPCONV_STATUS_OK, "run: %s", sepconv_last_error());
  float scale = 1e-3f, err = 0.0f;
  for (size_t i = 0; i < want_len; i++) scale = fmaxf(scale, fabsf(want[i]));
  for (size_t i = 0; i < want_len; i++) err = fmaxf(err, fabsf(out[i] - want[i]));
  printf("max |sepconv - expected| = %g (scale %g)\n", err, scale);
  CHECK(err <= 1e-3f * scale, "output differs from expected: %g", err);

  /* The model loaded from memory (another thread count and fusion) gives the same result. */
  struct SepconvWorkspace *ws2 = NULL;
  float *out2 = calloc(info.classes, sizeof(float));
  CHECK(sepconv_workspace_create(model2, 1, &ws2) == SEPCONV_STATUS_OK, "workspace 2");
  CHECK(sepconv_run(model2, ws2, input, in_len, 1, layout, out2, info.classes) == SEPCONV_STATUS_OK,
        "run 2");
  CHECK(memcmp(out, out2, info.classes * sizeof(float)) == 0, "memory model differs");

  /* Error paths: each returns its status and a message, never crashes. */
  EXPECT_ERROR(sepconv_run(NULL, ws, input, in_len, 1, layout, out, info.classes),
               SEPCONV_STATUS_NULL_POINTER);
  EXPECT_ERROR(sepconv_run(model, ws, NULL, in_len, 1, layout, out, info.classes),
               SEPCONV_STATUS_NULL_POINTER);
  EXPECT_ERROR(sepconv_run(model, ws, input, in_len - 1, 1, layout, out, info.classes),
               SEPCONV_STATUS_SHAPE);
  EXPECT_ERROR(sepconv_run(model, ws, input, in_len, 1, layout, out, info.classes + 1),
               SEPCONV_STATUS_SHAPE);
  EXPECT_ERROR(sepconv_run(model, ws, input, in_len, 2, layout, out, info.classes),
               SEPCONV_STATUS_SHAPE);
  EXPECT_ERROR(sepconv_run(model, ws, input, in_len, 1, 7, out, info.classes),
               SEPCONV_STATUS_INVALID_ARGUMENT);
  /* A workspace passed as a model, and a pointer sepconv never made. */
  EXPECT_ERROR(sepconv_model_info((const struct SepconvModel *)ws, &info),
               SEPCONV_STATUS_INVALID_HANDLE);
  EXPECT_ERROR(sepconv_model_info((const struct SepconvModel *)input, &info),
               SEPCONV_STATUS_INVALID_HANDLE);
  EXPECT_ERROR(sepconv_model_info(model, NULL), SEPCONV_STATUS_NULL_POINTER);
  struct SepconvModel *bad = NULL;
  EXPECT_ERROR(sepconv_model_load_file("/nonexistent/model.onnx", NULL, &bad), SEPCONV_STATUS_IO);
  CHECK(bad == NULL, "failed load left a handle");
  EXPECT_ERROR(sepconv_model_load_file(NULL, NULL, &bad), SEPCONV_STATUS_NULL_POINTER);
  EXPECT_ERROR(sepconv_model_load_file(argv[1], NULL, NULL), SEPCONV_STATUS_NULL_POINTER);
  EXPECT_ERROR(sepconv_model_load_memory(bytes, file_len / 2, NULL, &bad), SEPCONV_STATUS_MODEL);
  EXPECT_ERROR(sepconv_model_load_memory((const uint8_t *)"garbage!", 8, NULL, &bad),
               SEPCONV_STATUS_MODEL);
  struct SepconvOptions bad_opts = sepconv_options_default();
  bad_opts.isa = 42;
  EXPECT_ERROR(sepconv_model_load_file(argv[1], &bad_opts, &bad), SEPCONV_STATUS_INVALID_ARGUMENT);
  bad_opts = sepconv_options_default();
  bad_opts.fuse = 3;
  EXPECT_ERROR(sepconv_model_load_file(argv[1], &bad_opts, &bad), SEPCONV_STATUS_INVALID_ARGUMENT);
  bad_opts = sepconv_options_default();
  bad_opts.features_off = 1u << 30; /* no such feature */
  EXPECT_ERROR(sepconv_model_load_file(argv[1], &bad_opts, &bad), SEPCONV_STATUS_INVALID_ARGUMENT);
  bad_opts = sepconv_options_default();
  bad_opts.threads = 0;
  EXPECT_ERROR(sepconv_model_load_file(argv[1], &bad_opts, &bad), SEPCONV_STATUS_INVALID_ARGUMENT);
  for (int32_t isa = SEPCONV_ISA_SCALAR; isa <= SEPCONV_ISA_NEON; isa++) {
    if (sepconv_isa_available(isa)) {
      /* Every feature of the ISA may be switched off. */
      bad_opts = sepconv_options_default();
      bad_opts.isa = isa;
      bad_opts.features_off = sepconv_isa_features(isa);
      struct SepconvModel *m = NULL;
      CHECK(sepconv_model_load_file(argv[1], &bad_opts, &m) == SEPCONV_STATUS_OK, "features off");
      struct SepconvModelInfo mi;
      CHECK(sepconv_model_info(m, &mi) == SEPCONV_STATUS_OK && mi.features == 0 && (int32_t)mi.isa == isa,
            "a model without features");
      sepconv_model_free(m);
      continue;
    }
    bad_opts = sepconv_options_default();
    bad_opts.isa = isa;
    EXPECT_ERROR(sepconv_model_load_file(argv[1], &bad_opts, &bad), SEPCONV_STATUS_ISA_UNAVAILABLE);
  }
  struct SepconvConfig cfg = sepconv_config_default();
  cfg.alpha = -1.0f;
  EXPECT_ERROR(sepconv_model_builtin(&cfg, 1, NULL, &bad), SEPCONV_STATUS_INVALID_ARGUMENT);
  struct SepconvWorkspace *bad_ws = NULL;
  EXPECT_ERROR(sepconv_workspace_create(model, 0, &bad_ws), SEPCONV_STATUS_SHAPE);
  CHECK(bad == NULL && bad_ws == NULL, "failed calls left a handle");

  /* A built-in model, from a config. */
  cfg = sepconv_config_default();
  cfg.alpha = 0.25f;
  cfg.resolution = 64;
  cfg.classes = 10;
  struct SepconvModel *builtin = NULL;
  CHECK(sepconv_model_builtin(&cfg, 42, NULL, &builtin) == SEPCONV_STATUS_OK, "builtin: %s",
        sepconv_last_error());
  CHECK(sepconv_model_free(builtin) == SEPCONV_STATUS_OK, "free builtin");

  if (argc == 7) {
    check_int8(argv[1], bytes, file_len, layout, input, in_len, argv[5], argv[6], model, ws);
  }

  /* Use after free is detected, double free too. */
  CHECK(sepconv_workspace_free(ws2) == SEPCONV_STATUS_OK, "free ws2");
  CHECK(sepconv_model_free(model2) == SEPCONV_STATUS_OK, "free model2");
  EXPECT_ERROR(sepconv_model_free(model2), SEPCONV_STATUS_INVALID_HANDLE);
  EXPECT_ERROR(sepconv_run(model2, ws, input, in_len, 1, layout, out, info.classes),
               SEPCONV_STATUS_INVALID_HANDLE);
  EXPECT_ERROR(sepconv_run(model, ws2, input, in_len, 1, layout, out, info.classes),
               SEPCONV_STATUS_INVALID_HANDLE);
  CHECK(sepconv_model_free(NULL) == SEPCONV_STATUS_OK, "free(NULL)");

  CHECK(sepconv_workspace_free(ws) == SEPCONV_STATUS_OK, "free ws");
  CHECK(sepconv_model_free(model) == SEPCONV_STATUS_OK, "free model");
  free(out);
  free(out2);
  free(bytes);
  free(input);
  free(want);
  printf(failures ? "c abi example: %d check(s) failed\n" : "c abi example: all checks passed\n",
         failures);
  return failures ? 1 : 0;
}
