/*
 * kernels.h: the numeric kernels of the encoder (internal, lector__ callers only).
 *
 * Every op has a portable reference `lector_<op>_ref`: plain loops, the specification the
 * faster variants are tested against, and a fast entry point `lector_<op>` that runs the
 * best variant for this CPU (kernels_impl.h: AVX-512, AVX2+FMA or the reference, chosen
 * once from cpuid; LECTOR_KERNELS=ref in the environment forces the references). matmul
 * runs our own sgemm where AVX-512 or AVX2+FMA exists (each output element summed in a
 * fixed order whatever the row count and threads) and cblas_sgemm (OpenBLAS) elsewhere;
 * attention runs an online softmax. matmul and attention spread over the kernel threads
 * (lector__blas_set_n_threads) and give the same bits whatever their number.
 *
 * Conventions: raw pointers and dimensions, as llm.c's matmul_forward(out, inp, weight,
 * bias, B, T, C, OC). Every matrix is row-major and contiguous; a shape comment on each
 * argument gives its extent, outermost first. N is a number of rows (usually B*T).
 * Letters: B batch, T tokens, C hidden, H heads, D head size (C/H), F FFN width.
 * Masks are int32 (B, T): nonzero = real token, 0 = padding; NULL = every token real.
 *
 * Thread safety: every kernel is reentrant. lector__blas_set_n_threads changes the global
 * thread count (OpenBLAS's and our pool's) and should be called once, before any forward;
 * two forwards on two threads at once are safe (one of them then runs single-threaded).
 */
#ifndef LECTOR_KERNELS_H
#define LECTOR_KERNELS_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// ----------------------------------------------------------------------------
// matrix product: out = inp weight^T + bias   (torch.nn.functional.linear)

/* https://pytorch.org/docs/stable/generated/torch.nn.functional.linear.html
 *   out:    (N, OC)
 *   inp:    (N, IC)
 *   weight: (OC, IC), PyTorch's nn.Linear layout
 *   bias:   (OC) or NULL
 * Accumulates in double: slow, only for tests. */
void lector_matmul_ref(float *out, const float *inp, const float *weight, const float *bias,
                       int64_t N, int64_t IC, int64_t OC);
/* The same through our sgemm (or cblas_sgemm without AVX2). out must not alias inp or
 * weight. */
void lector_matmul(float *out, const float *inp, const float *weight, const float *bias,
                   int64_t N, int64_t IC, int64_t OC);
/* The activation a product's epilogue applies to each finished element (as
 * lector_gelu_ref, lector_gelu_new_ref, lector_relu_ref). */
enum lector__act { LECTOR__ACT_NONE, LECTOR__ACT_GELU, LECTOR__ACT_GELU_NEW, LECTOR__ACT_RELU };

/* Weights packed once for lector_matmul_packed (AVX-512 or AVX2: our sgemm's panel layout,
 * which differs between the two).
 * Floats of the packed form of an (OC, IC) weight, or 0 when this CPU's kernel set (or
 * LECTOR_KERNELS) has no packed path: then keep the plain weight and use lector_matmul. */
size_t lector_matmul_packed_size(int64_t IC, int64_t OC);
/* Pack rows [o0, o0 + n) of an (OC, IC) weight, given as rows (n, IC), into packed
 * (lector_matmul_packed_size(IC, OC) floats, 64-byte aligned). Packing all OC rows in one
 * call fills the whole buffer; packing it in pieces (QKV from three matrices) needs the
 * buffer zeroed first, for the padding columns, unless the packed size is IC * OC (no
 * padding). Only when lector_matmul_packed_size > 0. Runs on the kernels' threads. */
void lector_matmul_pack_rows(float *packed, const float *rows, int64_t IC, int64_t OC,
                             int64_t o0, int64_t n);
/* out = act(inp weight^T + bias), weight as packed by lector_matmul_pack_rows. The same bits
 * as lector_matmul followed by the activation, whatever N and the thread count.
 *   out:    (N, OC)
 *   inp:    (N, IC)
 *   packed: lector_matmul_packed_size(IC, OC) floats
 *   bias:   (OC) or NULL */
void lector_matmul_packed(float *out, const float *inp, const float *packed, const float *bias,
                          int64_t N, int64_t IC, int64_t OC, enum lector__act act);
/* The same product, the same bits as lector_matmul_packed on the packed weight, from the
 * plain weight, for a weight used once or only a few times (the first batch after loading a
 * model): each thread packs one panel at a time into a small buffer of its own just before
 * the product reads it, so no packed copy of the whole weight is written. The weight
 * (OC, IC) is given as pieces of rows: rows[i] holds rows [i n_piece_rows, (i + 1)
 * n_piece_rows) (the last piece may hold fewer), e.g. one piece of OC rows, or QKV's three
 * (C, C) matrices with n_piece_rows = C; rows need no alignment beyond a float's. Only when
 * lector_matmul_rows_available(); false (out untouched) when the buffers (threads x IC x the
 * panel width floats) cannot be allocated. */
bool lector_matmul_rows_available(void);
bool lector_matmul_rows(float *out, const float *inp, const float *const *rows,
                        int64_t n_piece_rows, const float *bias, int64_t N, int64_t IC,
                        int64_t OC, enum lector__act act);

// ----------------------------------------------------------------------------
// bf16 products (opt-in reduced precision; AVX-512 BF16 only)

/* fp32 -> bf16 bits, round to nearest even; NaN -> a quiet NaN (0x7fc0 with its sign
 * dropped). bf16 -> fp32 is exact. */
static inline uint16_t lector_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static inline float lector_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The specification of the bf16 product: inp and weight rounded to bf16
 * (lector_f32_to_bf16), products and sums in double, plus bias (fp32), rounded to float.
 * Shapes as lector_matmul_ref. Slow, only for tests. */
void lector_matmul_bf16_ref(float *out, const float *inp, const float *weight,
                            const float *bias, int64_t N, int64_t IC, int64_t OC);
/* uint16 elements of the bf16-packed form of an (OC, IC) weight, or 0 when this CPU (or
 * LECTOR_KERNELS) has no bf16 product: needs the AVX-512 kernels and AVX-512 BF16. */
size_t lector_matmul_bf16_packed_size(int64_t IC, int64_t OC);
/* packed (lector_matmul_bf16_packed_size(IC, OC) uint16, 64-byte aligned) <- weight (OC, IC) */
void lector_matmul_bf16_pack(uint16_t *packed, const float *weight, int64_t IC, int64_t OC);
/* The same from the fp32-packed form (lector_matmul_pack_rows, every row packed), for
 * weights whose plain matrix has been released. */
void lector_matmul_bf16_pack_from_packed(uint16_t *packed, const float *packed_f32, int64_t IC,
                                         int64_t OC);
/* out = act(bf16(inp) bf16(weight)^T + bias), products summed in fp32 (vdpbf16ps); inp
 * is rounded to bf16 inside. The same bits whatever N and the thread count.
 *   out:    (N, OC)
 *   inp:    (N, IC)
 *   packed: lector_matmul_bf16_packed_size(IC, OC) uint16
 *   bias:   (OC) or NULL
 * vs lector_matmul_bf16_ref: fp32 sums, |diff| <= 1e-5 (1 + sqrt(IC)) for inputs in [-1, 1]
 * (test_kernels). */
void lector_matmul_bf16_packed(float *out, const float *inp, const uint16_t *packed,
                               const float *bias, int64_t N, int64_t IC, int64_t OC,
                               enum lector__act act);

// ----------------------------------------------------------------------------
// int8 products (opt-in reduced precision; AVX-512 VNNI or AVX2)
//
// Dynamic quantisation, as ONNX Runtime's dynamic int8 mode (DynamicQuantizeLinear +
// MatMulInteger) does it:
//   weights, once: row o of the (OC, IC) weight (one output column) is quantised
//     symmetrically to int8 with its own scale sw[o] = max |w[o, :]| / 127,
//     wq = clamp(round(w / sw[o]), -127, 127) (0 for an all-zero row);
//   inputs, per call: row n of inp is quantised to uint8 with a zero point, from the row's
//     range widened to contain 0 (so 0 is exact): sa[n] = (max(0, hi) - min(0, lo)) / 255,
//     za[n] = clamp(round(-min(0, lo) / sa[n]), 0, 255), aq = clamp(round(x / sa[n]) + za[n],
//     0, 255) (x / sa[n] computed as x * (1 / sa[n])); an all-zero row has sa = 1, za = 0;
//   product: the integer sum s = sum_k aq[n, k] wq[o, k] - za[n] sum_k wq[o, k] (exact in
//     int32 for IC <= LECTOR_INT8_IC_MAX), then out = (float)s * sa[n] * sw[o] + bias[o],
//     in that order, each step rounded to float, then the activation.
// round() is to nearest, ties to even (nearbyintf in the default rounding mode); NaN
// quantises to 0. The reference below and the kernel use these helpers, so they agree bit
// for bit.

#define LECTOR_INT8_IC_MAX 32768 // 2 * 255 * 127 * IC < 2^31

/* Weight column: sw of the n values w[0], w[stride], ... */
static inline float lector__int8_weight_scale(const float *w, int64_t n, int64_t stride) {
    float amax = 0.0f;
    for (int64_t k = 0; k < n; k++) {
        float a = fabsf(w[k * stride]);
        amax = a > amax ? a : amax; // NaN ignored
    }
    return amax / 127.0f;
}

/* One weight: clamp(round(w / sw), -127, 127); 0 when sw is 0 or w is NaN. */
static inline int8_t lector__int8_quantize_weight(float w, float sw) {
    if (!(sw > 0.0f) || w != w) return 0;
    float v = nearbyintf(w / sw);
    v = v > -127.0f ? v : -127.0f;
    v = v < 127.0f ? v : 127.0f;
    return (int8_t)v;
}

/* Input row: scale sa, its reciprocal and the zero point from the row's min lo and max hi. */
static inline void lector__int8_row_params(float lo, float hi, float *scale, float *inv,
                                           int32_t *zp) {
    lo = lo < 0.0f ? lo : 0.0f;
    hi = hi > 0.0f ? hi : 0.0f;
    float s = (hi - lo) / 255.0f;
    if (!(s > 0.0f) || !(s < INFINITY)) s = 1.0f; // all zero (or not finite): q = zp = 0
    float r = 1.0f / s, z = nearbyintf(-lo * r);
    z = z > 0.0f ? z : 0.0f;
    z = z < 255.0f ? z : 255.0f;
    *scale = s;
    *inv = r;
    *zp = (int32_t)z;
}

/* One input element: clamp(round(x * inv) + zp, 0, 255); NaN gives 0. */
static inline uint8_t lector__int8_quantize_input(float x, float inv, float zp) {
    float v = nearbyintf(x * inv) + zp;
    v = v > 0.0f ? v : 0.0f;
    v = v < 255.0f ? v : 255.0f;
    return (uint8_t)v;
}

/* The specification of the int8 product (quantisation above, integer sums in int64, the
 * dequantisation above), no activation. Shapes as lector_matmul_ref; IC <=
 * LECTOR_INT8_IC_MAX. Slow, only for tests. */
void lector_matmul_int8_ref(float *out, const float *inp, const float *weight,
                            const float *bias, int64_t N, int64_t IC, int64_t OC);
/* Bytes of the int8-packed form of an (OC, IC) weight, or 0 when this CPU (or
 * LECTOR_KERNELS) has no int8 product: needs AVX-512 VNNI (with the AVX-512 kernels) or
 * AVX2 (LECTOR_KERNELS=ref refuses both). The layout depends on which. */
size_t lector_matmul_int8_packed_size(int64_t IC, int64_t OC);
/* packed (lector_matmul_int8_packed_size(IC, OC) bytes, 64-byte aligned) <- weight (OC, IC) */
void lector_matmul_int8_pack(int8_t *packed, const float *weight, int64_t IC, int64_t OC);
/* The same from the fp32-packed form (lector_matmul_pack_rows, every row packed), for
 * weights whose plain matrix has been released. The same bytes as lector_matmul_int8_pack. */
void lector_matmul_int8_pack_from_packed(int8_t *packed, const float *packed_f32, int64_t IC,
                                         int64_t OC);
/* out = act(int8 product of inp and weight + bias), inp quantised inside; the same bits as
 * lector_matmul_int8_ref followed by the activation, whatever N and the thread count.
 *   out:    (N, OC)
 *   inp:    (N, IC), IC <= LECTOR_INT8_IC_MAX
 *   packed: lector_matmul_int8_packed_size(IC, OC) bytes
 *   bias:   (OC) or NULL */
void lector_matmul_int8_packed(float *out, const float *inp, const int8_t *packed,
                               const float *bias, int64_t N, int64_t IC, int64_t OC,
                               enum lector__act act);

/* Threads lector_matmul and lector_attention use, ours and OpenBLAS's (<= 0: one per
 * core). Global to the process: call it once, before any forward. */
void lector__blas_set_n_threads(int n_threads);

// ----------------------------------------------------------------------------
// elementwise

/* https://pytorch.org/docs/stable/generated/torch.add.html
 * x[n, c] += bias[c]
 *   x:    (N, C)
 *   bias: (C) */
void lector_bias_add_ref(float *x, const float *bias, int64_t N, int64_t C);
void lector_bias_add(float *x, const float *bias, int64_t N, int64_t C);

/* https://pytorch.org/docs/stable/generated/torch.add.html
 * x[i] += r[i] (the residual connection)
 *   x: (n)
 *   r: (n) */
void lector_residual_add_ref(float *x, const float *r, int64_t n);
void lector_residual_add(float *x, const float *r, int64_t n);

/* https://pytorch.org/docs/stable/generated/torch.nn.GELU.html (approximate='none')
 * x = 0.5 x (1 + erf(x / sqrt 2)), in place
 *   x: (n) */
void lector_gelu_ref(float *x, int64_t n);
void lector_gelu(float *x, int64_t n);

/* https://pytorch.org/docs/stable/generated/torch.nn.GELU.html (approximate='tanh'),
 * Hugging Face's gelu_new / gelu_pytorch_tanh:
 * x = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), in place
 *   x: (n) */
void lector_gelu_new_ref(float *x, int64_t n);
void lector_gelu_new(float *x, int64_t n);

/* Fused bias + GELU, in place (one pass over the FFN activations instead of two):
 * x[n, c] = gelu(x[n, c] + bias[c]), gelu as lector_gelu_ref
 *   x:    (N, C)
 *   bias: (C) or NULL
 * The SIMD variants use our own erfc approximation: |fast - ref| <= 1e-6 (1 + |x|). */
void lector_bias_gelu_ref(float *x, const float *bias, int64_t N, int64_t C);
void lector_bias_gelu(float *x, const float *bias, int64_t N, int64_t C);
/* The same with the tanh form (lector_gelu_new_ref); same tolerance. */
void lector_bias_gelu_new_ref(float *x, const float *bias, int64_t N, int64_t C);
void lector_bias_gelu_new(float *x, const float *bias, int64_t N, int64_t C);

/* https://pytorch.org/docs/stable/generated/torch.nn.ReLU.html
 * x = max(x, 0), in place
 *   x: (n) */
void lector_relu_ref(float *x, int64_t n);
void lector_relu(float *x, int64_t n);

/* x[n, c] = act(x[n, c] + bias[c]), in place, rows split over the kernel threads for a
 * large x (each row computed the same way whatever the split); LECTOR__ACT_NONE adds the
 * bias only.
 *   x:    (N, C)
 *   bias: (C) or NULL */
void lector_bias_act(float *x, const float *bias, int64_t N, int64_t C, enum lector__act act);

// ----------------------------------------------------------------------------
// layernorm

/* https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html
 * out[n, :] = (inp[n, :] - mean) / sqrt(var + eps) * gamma + beta, with the biased
 * variance over the C values of the row. out may equal inp (in place).
 *   out:   (N, C)
 *   inp:   (N, C)
 *   gamma: (C)
 *   beta:  (C) */
void lector_layernorm_ref(float *out, const float *inp, const float *gamma, const float *beta,
                          int64_t N, int64_t C, float eps);
void lector_layernorm(float *out, const float *inp, const float *gamma, const float *beta,
                      int64_t N, int64_t C, float eps);

/* Fused bias + residual + LayerNorm, the end of each BERT sub-block:
 * y = x + bias + res (row-wise bias), out = layernorm(y) as lector_layernorm_ref.
 * out may equal x or res (in place); y is not kept.
 *   out:   (N, C)
 *   x:     (N, C)   e.g. the output projection without its bias
 *   bias:  (C) or NULL
 *   res:   (N, C) or NULL, the residual stream
 *   gamma: (C)
 *   beta:  (C)
 * The SIMD variants sum in vector lanes: |fast - ref| <= 1e-5 (1 + |ref|). */
void lector_residual_layernorm_ref(float *out, const float *x, const float *bias,
                                   const float *res, const float *gamma, const float *beta,
                                   int64_t N, int64_t C, float eps);
/* Rows are split over the kernel threads when N * C is large; each row is computed the
 * same way whatever the split. */
void lector_residual_layernorm(float *out, const float *x, const float *bias, const float *res,
                               const float *gamma, const float *beta, int64_t N, int64_t C,
                               float eps);

// ----------------------------------------------------------------------------
// masked multi-head self-attention

/* https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html
 * For each batch row b, head h and query t:
 *   s[t2] = q[b,t,h,:] . k[b,t2,h,:] / sqrt(D), or -INFINITY where mask[b,t2] == 0
 *   p = softmax(s) (subtracting the row max); a row with every key masked gives p = 0
 *   out[b,t,h,:] = sum_t2 p[t2] v[b,t2,h,:]
 * Padding only masks keys: padded query rows still attend to the real keys.
 *   out:  (B, T, C)         heads side by side: out[b, t, h*D + d]
 *   att:  (B, H, T, T)      the probabilities p, written here (kept for a backward pass)
 *   qkv:  (B, T, 3C)        q = qkv[.., 0:C], k = qkv[.., C:2C], v = qkv[.., 2C:3C],
 *                           each split into H heads of D = C/H
 *   mask: (B, T) or NULL */
void lector_attention_ref(float *out, float *att, const float *qkv, const int32_t *mask,
                          int64_t B, int64_t T, int64_t C, int64_t H);

/* The same result, computed per (b, h) with an online softmax over blocks of keys (a
 * running max and denominator per query row), so no (T, T) matrix is stored: the scratch
 * is O(T + D) per (b, h) and reused for the next one. With AVX2 or AVX-512 and D % 16 == 0
 * the (b, h) pairs are split over the kernel threads, each with its own O(D T) buffer of
 * packed keys (allocated per call; scratch is then unused). Tolerance vs the reference:
 * 2e-6 for inputs in [-1, 1].
 *   scratch: (lector_attention_scratch_size(T, C, H)) floats */
void lector_attention(float *out, const float *qkv, const int32_t *mask, float *scratch,
                      int64_t B, int64_t T, int64_t C, int64_t H);
/* Floats of scratch lector_attention needs for rows of T tokens (independent of B). */
size_t lector_attention_scratch_size(int64_t T, int64_t C, int64_t H);

// ----------------------------------------------------------------------------
// pooling (B, T, C) -> (B, C)

/* https://pytorch.org/docs/stable/generated/torch.select.html
 * out[b, :] = h[b, 0, :]
 *   out: (B, C)
 *   h:   (B, T, C) */
void lector_pool_cls_ref(float *out, const float *h, int64_t B, int64_t T, int64_t C);

/* https://pytorch.org/docs/stable/generated/torch.mean.html, over real tokens only:
 * out[b, :] = sum_t mask[b,t] h[b,t,:] / sum_t mask[b,t]; zeros for a row with no real token
 *   out:  (B, C)
 *   h:    (B, T, C)
 *   mask: (B, T) or NULL */
void lector_pool_mean_ref(float *out, const float *h, const int32_t *mask, int64_t B,
                          int64_t T, int64_t C);

/* out[b, :] = max over t with mask[b,t] != 0 of h[b,t,:]; zeros for a row with no real token
 * https://pytorch.org/docs/stable/generated/torch.amax.html
 *   out:  (B, C)
 *   h:    (B, T, C)
 *   mask: (B, T) or NULL */
void lector_pool_max_ref(float *out, const float *h, const int32_t *mask, int64_t B, int64_t T,
                         int64_t C);

/* https://pytorch.org/docs/stable/generated/torch.tanh.html
 * x = tanh(x), in place
 *   x: (n) */
void lector_tanh_ref(float *x, int64_t n);

#endif /* LECTOR_KERNELS_H */
