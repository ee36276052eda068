// Tests for src/kernels: each fast op against its reference, the references against
// hand-computed values and a double-precision attention.
//
// Tolerances (max absolute difference):
//   matmul (sgemm vs double-accumulated reference): 1e-5 * (1 + sqrt(IC)), inputs in [-1, 1]
//   attention (online vs reference, both vs double):  2e-6, inputs in [-1, 1] (scores up to ~4)
//   layernorm vs a hand example:                       1e-6
//   gelu / gelu_new at known points:                   1e-7 (float rounding of erff/tanhf)
//   pooling:                                           exact or 1e-6 (mean divides)
// SIMD variants (avx2 in test_kernels, avx512 in test_kernels_avx512; Skipped where the
// CPU lacks them) against the references:
//   bias + gelu, bias + gelu_new (own erfc/tanh):      1e-6 (1 + |x|), x in [-10, 10]
//   bias + residual + layernorm (lane-wise sums):      1e-5 (1 + |ref|)
//   attention per head (own exp):                      2e-6 vs double, inputs in [-2, 2]
//   our sgemm vs the double reference:                 1e-5 (1 + sqrt(IC)), inputs in [-1, 1]
//   bias + relu:                                       exact
//   packed sgemm (+ activation epilogue) vs sgemm then lector_bias_act: exact
//   bf16 product vs lector_matmul_bf16_ref (same bf16 rounding, double sums):
//                                                     1e-5 (1 + sqrt(IC)), inputs in [-1, 1]
//   (skipped with a note where the CPU has no AVX-512 BF16)
//   int8 products (AVX2 in test_kernels, VNNI in test_kernels_avx512) vs
//   lector_matmul_int8_ref (same quantisation, integer sums): exact, for N = 1..13, 400
//   and depths/widths off the 2/4/16/64 grids, a NaN input; vs the fp32 product: within
//   the quantisation bound 0.5 sw sum|x| + 0.5 sa sum|wq sw| (+ 1e-5 (1 + sqrt(IC)))
//   (the VNNI one skipped with a note where the CPU has no AVX-512 VNNI); with
//   LECTOR_KERNELS=ref (test_kernels_ref) no int8 product at all
//   first-use product from the plain weight (pieces of rows) vs the packed product: exact
// and bit-identical results for 1, 2 and 3 threads (matmul, packed matmul, attention), and
// for our sgemms (avx2, avx512) for any batch size M (a row alone, batches of 1..399 rows
// against the first rows of a batch of 400).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"
#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"
#include "testutil.h"

// ----------------------------------------------------------------------------
// helpers

// Deterministic xorshift generator: tests must not depend on the C library's rand().
static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static float *rand_array(int64_t n) { return test_rand_array(&rng_state, n); }

// ----------------------------------------------------------------------------
// matmul

static void check_matmul(int64_t N, int64_t IC, int64_t OC, int with_bias) {
    float *x = rand_array(N * IC), *w = rand_array(OC * IC), *bias = rand_array(OC);
    float *ref = malloc((size_t)(N * OC) * sizeof *ref);
    float *got = malloc((size_t)(N * OC) * sizeof *got);
    lector_matmul_ref(ref, x, w, with_bias ? bias : NULL, N, IC, OC);
    lector_matmul(got, x, w, with_bias ? bias : NULL, N, IC, OC);
    float tol = 1e-5f * (1.0f + sqrtf((float)IC));
    float diff = test_max_abs_diff(ref, got, N * OC);
    if (diff > tol)
        fail_msg("matmul N=%lld IC=%lld OC=%lld bias=%d: max diff %g > %g", (long long)N,
                 (long long)IC, (long long)OC, with_bias, (double)diff, (double)tol);
    free(x), free(w), free(bias), free(ref), free(got);
}

static void test_matmul_sgemm_matches_ref(void **state) {
    (void)state;
    check_matmul(1, 1, 1, 1);
    check_matmul(1, 17, 5, 1);
    check_matmul(7, 33, 19, 0);
    check_matmul(13, 128, 384, 1);
    check_matmul(64, 100, 37, 1);
}

static void test_matmul_ref_small_example(void **state) {
    (void)state;
    // [[1, 2], [3, 4]] x [[1, 0], [1, 1], [0, 2]]^T + [10, 20, 30]
    const float x[] = {1, 2, 3, 4}, w[] = {1, 0, 1, 1, 0, 2}, b[] = {10, 20, 30};
    const float want[] = {11, 23, 34, 13, 27, 38};
    float got[6];
    lector_matmul_ref(got, x, w, b, 2, 2, 3);
    assert_memory_equal(got, want, sizeof want);
    lector_matmul(got, x, w, b, 2, 2, 3);
    assert_memory_equal(got, want, sizeof want);
}

// ----------------------------------------------------------------------------
// elementwise

static void test_gelu_known_points(void **state) {
    (void)state;
    // torch.nn.functional.gelu in float64 at 1, -1, 0, 3
    float x[] = {1.0f, -1.0f, 0.0f, 3.0f};
    const double want[] = {0.8413447460685429, -0.15865525393145707, 0.0, 2.99595030590511};
    lector_gelu_ref(x, 4);
    for (int i = 0; i < 4; i++) assert_true(fabs((double)x[i] - want[i]) < 1e-7);

    float y[] = {1.0f, -1.0f, 0.0f};
    const double want_new[] = {0.8411919906082768, -0.15880800939172324, 0.0};
    lector_gelu_new_ref(y, 3);
    for (int i = 0; i < 3; i++) assert_true(fabs((double)y[i] - want_new[i]) < 1e-7);
}

static void test_elementwise_fast_matches_ref(void **state) {
    (void)state;
    const int64_t n = 1000 + 3;
    float *a = rand_array(n), *b = malloc((size_t)n * sizeof *b);
    void (*const ops[][2])(float *, int64_t) = {
        {lector_gelu_ref, lector_gelu},
        {lector_gelu_new_ref, lector_gelu_new},
        {lector_relu_ref, lector_relu},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        float *r = malloc((size_t)n * sizeof *r);
        memcpy(r, a, (size_t)n * sizeof *r);
        memcpy(b, a, (size_t)n * sizeof *b);
        ops[k][0](r, n);
        ops[k][1](b, n);
        for (int64_t i = 0; i < n; i++)
            if (!(fabsf(r[i] - b[i]) <= 1e-6f * (1.0f + fabsf(a[i]))))
                fail_msg("op %zu at %lld: x %g ref %g fast %g", k, (long long)i, (double)a[i],
                         (double)r[i], (double)b[i]);
        free(r);
    }
    float x[] = {-2.0f, 0.0f, 3.5f};
    lector_relu_ref(x, 3);
    assert_true(x[0] == 0.0f && x[1] == 0.0f && x[2] == 3.5f);
    free(a), free(b);
}

static void test_bias_and_residual_add(void **state) {
    (void)state;
    float x[] = {1, 2, 3, 4, 5, 6};
    const float bias[] = {10, 20, 30};
    lector_bias_add_ref(x, bias, 2, 3);
    const float want[] = {11, 22, 33, 14, 25, 36};
    assert_memory_equal(x, want, sizeof want);
    float y[] = {1, 2, 3, 4, 5, 6};
    lector_bias_add(y, bias, 2, 3);
    assert_memory_equal(y, want, sizeof want);
    lector_residual_add_ref(x, want, 6);
    lector_residual_add(y, want, 6);
    assert_memory_equal(x, y, sizeof x);
    assert_true(x[5] == 72.0f);
}

// ----------------------------------------------------------------------------
// layernorm

static void test_layernorm_hand_example(void **state) {
    (void)state;
    // Row [1, 2, 3, 4]: mean 2.5, biased var 1.25, eps 1e-12 (negligible) => (x - 2.5) / sqrt(1.25)
    //   = [-1.3416408, -0.4472136, 0.4472136, 1.3416408]; gamma [1, 2, 1, 1], beta [0, 0, 1, -1]
    const float x[] = {1, 2, 3, 4, 5, 5, 5, 5};
    const float g[] = {1, 2, 1, 1}, b[] = {0, 0, 1, -1};
    const double want[] = {-1.3416407864998738, -0.8944271909999159, 1.4472135954999579,
                           0.3416407864998738,  0.0, 0.0, 1.0, -1.0};
    float out[8];
    lector_layernorm_ref(out, x, g, b, 2, 4, 1e-12f);
    for (int i = 0; i < 8; i++) assert_true(fabs((double)out[i] - want[i]) < 1e-6);
    // in place, through the dispatch name
    float y[8];
    memcpy(y, x, sizeof y);
    lector_layernorm(y, y, g, b, 2, 4, 1e-12f);
    assert_true(test_max_abs_diff(y, out, 8) <= 1e-6f);
}

static void test_layernorm_fast_matches_ref(void **state) {
    (void)state;
    const int64_t N = 5, C = 37;
    float *x = rand_array(N * C), *g = rand_array(C), *b = rand_array(C);
    float *r = malloc((size_t)(N * C) * sizeof *r), *f = malloc((size_t)(N * C) * sizeof *f);
    lector_layernorm_ref(r, x, g, b, N, C, 1e-5f);
    lector_layernorm(f, x, g, b, N, C, 1e-5f);
    assert_true(test_max_abs_diff(r, f, N * C) <= 1e-6f);
    free(x), free(g), free(b), free(r), free(f);
}

// ----------------------------------------------------------------------------
// attention

// Naive O(T^2) attention in double, as the yardstick for both float versions.
static void attention_double(double *out, const float *qkv, const int32_t *mask, int64_t B,
                             int64_t T, int64_t C, int64_t H) {
    int64_t D = C / H;
    double *p = malloc((size_t)T * sizeof *p);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                double mx = -(double)INFINITY;
                for (int64_t j = 0; j < T; j++) {
                    if (mask && !mask[b * T + j]) {
                        p[j] = -(double)INFINITY;
                        continue;
                    }
                    double s = 0;
                    for (int64_t d = 0; d < D; d++)
                        s += (double)qkv[(b * T + t) * 3 * C + h * D + d] *
                             (double)qkv[(b * T + j) * 3 * C + C + h * D + d];
                    p[j] = s / sqrt((double)D);
                    if (p[j] > mx) mx = p[j];
                }
                double sum = 0;
                for (int64_t j = 0; j < T; j++) {
                    p[j] = isinf(mx) ? 0.0 : exp(p[j] - mx);
                    sum += p[j];
                }
                for (int64_t d = 0; d < D; d++) {
                    double o = 0;
                    for (int64_t j = 0; j < T; j++)
                        o += p[j] * (double)qkv[(b * T + j) * 3 * C + 2 * C + h * D + d];
                    out[(b * T + t) * C + h * D + d] = sum > 0 ? o / sum : 0.0;
                }
            }
    free(p);
}

static double max_diff_fd(const float *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; // NaN propagates as a failure
    }
    return m;
}

// lens[b] = number of real tokens in row b (the rest is padding); -1 = NULL mask
static void check_attention(int64_t B, int64_t T, int64_t C, int64_t H, const int64_t *lens) {
    float *qkv = rand_array(B * T * 3 * C);
    // scale so the scores spread over several units, as in a trained model
    for (int64_t i = 0; i < B * T * 3 * C; i++) qkv[i] *= 2.0f;
    int32_t *mask = NULL;
    if (lens) {
        mask = malloc((size_t)(B * T) * sizeof *mask);
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++) mask[b * T + t] = t < lens[b];
    }
    float *ref = malloc((size_t)(B * T * C) * sizeof *ref);
    float *fast = malloc((size_t)(B * T * C) * sizeof *fast);
    float *att = malloc((size_t)(B * H * T * T) * sizeof *att);
    float *scratch = malloc(lector_attention_scratch_size(T, C, H) * sizeof *scratch);
    double *want = malloc((size_t)(B * T * C) * sizeof *want);
    lector_attention_ref(ref, att, qkv, mask, B, T, C, H);
    lector_attention(fast, qkv, mask, scratch, B, T, C, H);
    attention_double(want, qkv, mask, B, T, C, H);

    double d_ref = max_diff_fd(ref, want, B * T * C);
    double d_fast = max_diff_fd(fast, want, B * T * C);
    if (d_ref > 2e-6 || d_fast > 2e-6)
        fail_msg("attention B=%lld T=%lld C=%lld H=%lld: ref %g, fast %g vs double (tol 2e-6)",
                 (long long)B, (long long)T, (long long)C, (long long)H, d_ref, d_fast);
    // probabilities: rows sum to 1, or are all zero when every key is masked
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                double s = 0;
                for (int64_t j = 0; j < T; j++) s += (double)att[((b * H + h) * T + t) * T + j];
                int empty = lens && lens[b] == 0;
                assert_true(fabs(s - (empty ? 0.0 : 1.0)) < 1e-5);
            }
    // a fully masked row is exactly zero, not NaN
    for (int64_t b = 0; lens && b < B; b++)
        if (lens[b] == 0)
            for (int64_t i = 0; i < T * C; i++) {
                assert_true(ref[b * T * C + i] == 0.0f);
                assert_true(fast[b * T * C + i] == 0.0f);
            }
    free(qkv), free(mask), free(ref), free(fast), free(att), free(scratch), free(want);
}

static void test_attention_matches_double(void **state) {
    (void)state;
    check_attention(1, 1, 8, 2, NULL);                  // T = 1
    check_attention(2, 5, 12, 3, NULL);                 // D = 4
    check_attention(1, 70, 40, 2, NULL);                // T spans two key blocks, D = 20
    const int64_t lens[] = {9, 17, 5, 0};               // padding and a fully masked row
    check_attention(4, 17, 30, 2, lens);                // D = 15, not a multiple of 16
    const int64_t lens2[] = {130, 1, 64, 65};           // block edges of the online softmax
    check_attention(4, 130, 24, 3, lens2);
}

static void test_attention_padding_only_masks_keys(void **state) {
    (void)state;
    // A row padded from 6 to 11 tokens gives bit-identical outputs at its real positions.
    const int64_t T0 = 6, T = 11, C = 10, H = 2;
    float *alone = rand_array(T0 * 3 * C);
    float *padded = rand_array(T * 3 * C); // garbage at padded positions
    memcpy(padded, alone, (size_t)(T0 * 3 * C) * sizeof *padded);
    int32_t mask[11];
    for (int t = 0; t < T; t++) mask[t] = t < T0;
    float out0[6 * 10], out1[11 * 10];
    // sized for the longer call, reused for the shorter one
    float *scratch = malloc(lector_attention_scratch_size(T, C, H) * sizeof *scratch);
    lector_attention(out0, alone, NULL, scratch, 1, T0, C, H);
    lector_attention(out1, padded, mask, scratch, 1, T, C, H);
    assert_memory_equal(out0, out1, sizeof out0);
    free(alone), free(padded), free(scratch);
}

// ----------------------------------------------------------------------------
// pooling

static void test_pooling_mask_aware(void **state) {
    (void)state;
    // B = 2, T = 3, C = 2; row 0 has 2 real tokens, row 1 none
    const float h[] = {1, -5, 3, 2, 100, 100, 7, 8, 9, 10, 11, 12};
    const int32_t mask[] = {1, 1, 0, 0, 0, 0};
    float out[4];
    lector_pool_cls_ref(out, h, 2, 3, 2);
    const float cls[] = {1, -5, 7, 8};
    assert_memory_equal(out, cls, sizeof cls);
    lector_pool_mean_ref(out, h, mask, 2, 3, 2);
    const float mean[] = {2, -1.5f, 0, 0};
    assert_memory_equal(out, mean, sizeof mean);
    lector_pool_max_ref(out, h, mask, 2, 3, 2);
    const float mx[] = {3, 2, 0, 0};
    assert_memory_equal(out, mx, sizeof mx);
    // NULL mask = every token real
    lector_pool_mean_ref(out, h, NULL, 2, 3, 2);
    const float mean_all[] = {104.0f / 3, 97.0f / 3, 9, 10};
    assert_true(test_max_abs_diff(out, mean_all, 4) < 1e-5f);
    lector_pool_max_ref(out, h, NULL, 2, 3, 2);
    const float max_all[] = {100, 100, 11, 12};
    assert_memory_equal(out, max_all, sizeof max_all);
}

static void test_tanh_ref(void **state) {
    (void)state;
    float x[] = {0.0f, 1.0f, -20.0f};
    lector_tanh_ref(x, 3);
    assert_true(x[0] == 0.0f);
    assert_true(fabs((double)x[1] - 0.7615941559557649) < 1e-7);
    assert_true(x[2] == -1.0f);
}


// ----------------------------------------------------------------------------
// SIMD variants against the references

struct variant {
    const char *name;
    bool (*have)(void);
    void (*bias_gelu)(float *, const float *, int64_t, int64_t);
    void (*bias_gelu_new)(float *, const float *, int64_t, int64_t);
    void (*residual_layernorm)(float *, const float *, const float *, const float *,
                               const float *, const float *, int64_t, int64_t, float);
    void (*attention_head)(float *, const float *, const int32_t *, float *, int64_t, int64_t,
                           int64_t, int64_t, int64_t);
    void (*bias_relu)(float *, const float *, int64_t, int64_t);
};

static const struct variant variants[] = {
    {"avx2", lector__kernels_have_avx2, lector__bias_gelu_avx2, lector__bias_gelu_new_avx2,
     lector__residual_layernorm_avx2, lector__attention_head_avx2, lector__bias_relu_avx2},
    {"avx512", lector__kernels_have_avx512, lector__bias_gelu_avx512,
     lector__bias_gelu_new_avx512, lector__residual_layernorm_avx512,
     lector__attention_head_avx512, lector__bias_relu_avx512},
};
#define N_VARIANTS (sizeof variants / sizeof variants[0])

// The instruction set whose variants this run tests: avx2 by default, avx512 when the binary
// runs as the test_kernels_avx512 entry. A CPU without it skips the test (reported Skipped).
static const char *g_isa = "avx2";

static bool variant_selected(size_t v) {
    if (strcmp(variants[v].name, g_isa) != 0) return false;
    if (!variants[v].have()) test_skip();
    return true;
}

static void test_dispatch_names_a_variant(void **state) {
    (void)state;
    const char *name = lector__kernels()->name;
    assert_true(strcmp(name, "ref") == 0 || strcmp(name, "avx2") == 0 ||
                strcmp(name, "avx512") == 0);
    print_message("kernels: %s (avx2 %d, avx512 %d)\n", name, lector__kernels_have_avx2(),
                  lector__kernels_have_avx512());
}

static void test_bias_gelu_variants_match_ref(void **state) {
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {3, 7}, {2, 15}, {2, 17}, {4, 33}, {2, 771}};
    for (size_t v = 0; v < N_VARIANTS; v++) {
        if (!variant_selected(v)) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t N = shapes[s][0], C = shapes[s][1];
            float *x = rand_array(N * C), *bias = rand_array(C);
            for (int64_t i = 0; i < N * C; i++) x[i] *= 9.0f;
            x[0] = 0.0f; // and the tails: erfc far out, tanh saturated
            if (N * C > 3) x[1] = -9.5f, x[2] = 9.5f, x[3] = -1e-8f;
            for (int form = 0; form < 2; form++)
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    float *r = malloc((size_t)(N * C) * sizeof *r);
                    float *f = malloc((size_t)(N * C) * sizeof *f);
                    memcpy(r, x, (size_t)(N * C) * sizeof *r);
                    memcpy(f, x, (size_t)(N * C) * sizeof *f);
                    const float *b = with_bias ? bias : NULL;
                    if (form == 0) {
                        lector_bias_gelu_ref(r, b, N, C);
                        variants[v].bias_gelu(f, b, N, C);
                    } else {
                        lector_bias_gelu_new_ref(r, b, N, C);
                        variants[v].bias_gelu_new(f, b, N, C);
                    }
                    for (int64_t i = 0; i < N * C; i++) {
                        float in = x[i] + (b ? b[i % C] : 0.0f);
                        if (!(fabsf(r[i] - f[i]) <= 1e-6f * (1.0f + fabsf(in))))
                            fail_msg("%s %s N=%lld C=%lld at %lld: x %g ref %.9g got %.9g",
                                     variants[v].name, form ? "gelu_new" : "gelu", (long long)N,
                                     (long long)C, (long long)i, (double)in, (double)r[i],
                                     (double)f[i]);
                    }
                    free(r), free(f);
                }
            free(x), free(bias);
        }
    }
}

// ReLU is exact: the same bits as the reference, -0 and NaN included (both give +0).
static void test_bias_relu_variants_match_ref(void **state) {
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {3, 7}, {2, 17}, {2, 771}};
    for (size_t v = 0; v < N_VARIANTS; v++) {
        if (!variant_selected(v)) continue;
        for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
            int64_t N = shapes[sh][0], C = shapes[sh][1];
            float *x = rand_array(N * C), *bias = rand_array(C);
            x[0] = -0.0f;
            if (N * C > 2) x[1] = NAN, x[2] = 0.0f;
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                float *r = malloc((size_t)(N * C) * sizeof *r);
                float *f = malloc((size_t)(N * C) * sizeof *f);
                memcpy(r, x, (size_t)(N * C) * sizeof *r);
                memcpy(f, x, (size_t)(N * C) * sizeof *f);
                lector__bias_relu_ref(r, with_bias ? bias : NULL, N, C);
                variants[v].bias_relu(f, with_bias ? bias : NULL, N, C);
                assert_memory_equal(r, f, (size_t)(N * C) * sizeof *r);
                free(r), free(f);
            }
            free(x), free(bias);
        }
    }
}

static void test_residual_layernorm_variants_match_ref(void **state) {
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {3, 5}, {2, 16}, {3, 17}, {2, 384}, {2, 771}};
    for (size_t v = 0; v < N_VARIANTS + 1; v++) {
        // v == N_VARIANTS: the public entry point, whatever dispatch chose
        if (v < N_VARIANTS && !variant_selected(v)) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t N = shapes[s][0], C = shapes[s][1];
            float *x = rand_array(N * C), *res = rand_array(N * C), *bias = rand_array(C);
            float *g = rand_array(C), *b = rand_array(C);
            for (int64_t i = 0; i < N * C; i++) x[i] = 3.0f * x[i] + 5.0f; // mean far from 0
            for (int mode = 0; mode < 4; mode++) {
                // 0: out separate, 1: no bias, 2: in place over res, 3: in place over x
                float *r = malloc((size_t)(N * C) * sizeof *r);
                float *xr = malloc((size_t)(N * C) * sizeof *xr);
                float *rr = malloc((size_t)(N * C) * sizeof *rr);
                memcpy(xr, x, (size_t)(N * C) * sizeof *xr);
                memcpy(rr, res, (size_t)(N * C) * sizeof *rr);
                const float *bb = mode == 1 ? NULL : bias;
                lector_residual_layernorm_ref(r, x, bb, res, g, b, N, C, 1e-12f);
                float *out = mode == 2 ? rr : mode == 3 ? xr : malloc((size_t)(N * C) * sizeof *out);
                if (v < N_VARIANTS)
                    variants[v].residual_layernorm(out, xr, bb, rr, g, b, N, C, 1e-12f);
                else
                    lector_residual_layernorm(out, xr, bb, rr, g, b, N, C, 1e-12f);
                for (int64_t i = 0; i < N * C; i++)
                    if (!(fabsf(r[i] - out[i]) <= 1e-5f * (1.0f + fabsf(r[i]))))
                        fail_msg("%s residual_layernorm N=%lld C=%lld mode %d at %lld: ref %.9g "
                                 "got %.9g",
                                 v < N_VARIANTS ? variants[v].name : "dispatch", (long long)N,
                                 (long long)C, mode, (long long)i, (double)r[i], (double)out[i]);
                if (mode < 2) free(out);
                free(r), free(xr), free(rr);
            }
            free(x), free(res), free(bias), free(g), free(b);
        }
    }
}

// every (b, h) of one variant against the double attention
static void check_attention_head(const struct variant *var, int64_t B, int64_t T, int64_t C,
                                 int64_t H, const int64_t *lens) {
    float *qkv = rand_array(B * T * 3 * C);
    for (int64_t i = 0; i < B * T * 3 * C; i++) qkv[i] *= 2.0f;
    int32_t *mask = NULL;
    if (lens) {
        mask = malloc((size_t)(B * T) * sizeof *mask);
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++) mask[b * T + t] = t < lens[b];
    }
    float *kt = malloc(lector__attention_head_scratch_size(T, C, H) * sizeof *kt);
    float *got = malloc((size_t)(B * T * C) * sizeof *got);
    for (int64_t i = 0; i < B * T * C; i++) got[i] = NAN; // every element must be written
    double *want = malloc((size_t)(B * T * C) * sizeof *want);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) var->attention_head(got, qkv, mask, kt, b, h, T, C, H);
    attention_double(want, qkv, mask, B, T, C, H);
    double d = max_diff_fd(got, want, B * T * C);
    if (!(d <= 2e-6))
        fail_msg("%s attention B=%lld T=%lld C=%lld H=%lld: %g vs double (tol 2e-6)", var->name,
                 (long long)B, (long long)T, (long long)C, (long long)H, d);
    for (int64_t b = 0; lens && b < B; b++)
        if (lens[b] == 0)
            for (int64_t i = 0; i < T * C; i++) assert_true(got[b * T * C + i] == 0.0f);
    free(qkv), free(mask), free(kt), free(got), free(want);
}

static void test_attention_variants_match_double(void **state) {
    (void)state;
    for (size_t v = 0; v < N_VARIANTS; v++) {
        if (!variant_selected(v)) continue;
        check_attention_head(&variants[v], 1, 1, 32, 2, NULL);   // T = 1, D = 16
        check_attention_head(&variants[v], 2, 5, 64, 2, NULL);   // T < one vector, D = 32
        check_attention_head(&variants[v], 1, 70, 128, 2, NULL); // two key blocks, D = 64
        const int64_t lens[] = {9, 17, 5, 0};                    // padding, an empty row
        check_attention_head(&variants[v], 4, 17, 96, 2, lens);  // D = 48
        const int64_t lens2[] = {130, 1, 64, 65, 127};           // block edges
        check_attention_head(&variants[v], 5, 130, 64, 2, lens2);
    }
}

// A row of T0 tokens alone, then padded to T in a batch after a full row: the same bits at
// its real positions (one variant's heads, called directly), and both within 2e-6 of the
// double attention.
static void check_attention_head_padded(const struct variant *var, int64_t T0, int64_t T,
                                        int64_t C, int64_t H) {
    float *alone = rand_array(T0 * 3 * C);
    float *batch = rand_array(2 * T * 3 * C); // garbage at the padded positions
    memcpy(batch + T * 3 * C, alone, (size_t)(T0 * 3 * C) * sizeof *batch);
    int32_t *mask = malloc((size_t)(2 * T) * sizeof *mask);
    for (int64_t t = 0; t < T; t++) mask[t] = 1, mask[T + t] = t < T0;
    float *kt = malloc(lector__attention_head_scratch_size(T, C, H) * sizeof *kt);
    float *out0 = malloc((size_t)(T0 * C) * sizeof *out0);
    float *out1 = malloc((size_t)(2 * T * C) * sizeof *out1);
    for (int64_t h = 0; h < H; h++) {
        var->attention_head(out0, alone, NULL, kt, 0, h, T0, C, H);
        for (int64_t b = 0; b < 2; b++) var->attention_head(out1, batch, mask, kt, b, h, T, C, H);
    }
    if (memcmp(out0, out1 + T * C, (size_t)(T0 * C) * sizeof *out0) != 0)
        fail_msg("%s attention T0=%lld T=%lld C=%lld H=%lld: padded row differs from alone",
                 var->name, (long long)T0, (long long)T, (long long)C, (long long)H);
    double *want = malloc((size_t)(2 * T * C) * sizeof *want);
    attention_double(want, batch, mask, 2, T, C, H);
    assert_true(max_diff_fd(out1, want, T * C + T0 * C) <= 2e-6);
    free(alone), free(batch), free(mask), free(kt), free(out0), free(out1), free(want);
}

static void test_attention_variants_batch_invariant(void **state) {
    (void)state;
    for (size_t v = 0; v < N_VARIANTS; v++) {
        if (!variant_selected(v)) continue;
        check_attention_head_padded(&variants[v], 6, 11, 64, 2);    // D = 32, one tile
        check_attention_head_padded(&variants[v], 70, 130, 128, 2); // D = 64, block edges
        check_attention_head_padded(&variants[v], 333, 512, 128, 2);
        check_attention_head_padded(&variants[v], 511, 512, 96, 2); // D = 48
    }
}

// lector_attention (dispatch + threads) against the double attention, then the same
// call with 1, 2 and 3 threads: identical bits
static void check_attention_threads(int64_t B, int64_t T, int64_t C, int64_t H,
                                    const int64_t *lens) {
    float *qkv = rand_array(B * T * 3 * C);
    int32_t *mask = malloc((size_t)(B * T) * sizeof *mask);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) mask[b * T + t] = t < lens[b];
    float *scratch = malloc(lector_attention_scratch_size(T, C, H) * sizeof *scratch);
    float *o[3];
    for (int n = 0; n < 3; n++) {
        o[n] = malloc((size_t)(B * T * C) * sizeof *o[n]);
        lector__kernels_set_n_threads(n + 1);
        lector_attention(o[n], qkv, mask, scratch, B, T, C, H);
    }
    lector__kernels_set_n_threads(0);
    double *want = malloc((size_t)(B * T * C) * sizeof *want);
    attention_double(want, qkv, mask, B, T, C, H);
    assert_true(max_diff_fd(o[0], want, B * T * C) <= 2e-6);
    assert_memory_equal(o[0], o[1], (size_t)(B * T * C) * sizeof(float));
    assert_memory_equal(o[0], o[2], (size_t)(B * T * C) * sizeof(float));
    for (int n = 0; n < 3; n++) free(o[n]);
    free(qkv), free(mask), free(scratch), free(want);
}

static void test_attention_threads_identical(void **state) {
    (void)state;
    const int64_t lens[] = {45, 20, 0};
    check_attention_threads(3, 45, 96, 3, lens);
    const int64_t lens2[] = {300, 512};
    check_attention_threads(2, 512, 192, 3, lens2); // D = 64, long rows
}

// Our sgemm variants: the core over a range of panels and the threaded entry point.
struct gemm_variant {
    const char *name;
    bool (*have)(void);
    const struct lector__gemm_core *core;
    void (*matmul)(float *out, const float *inp, const float *weight, const float *bias,
                   int64_t N, int64_t IC, int64_t OC);
};

static const struct gemm_variant gemm_avx2 = {"avx2", lector__kernels_have_avx2,
                                              &lector__gemm_core_avx2, lector__matmul_avx2};
static const struct gemm_variant gemm_avx512 = {"avx512", lector__kernels_have_avx512,
                                                &lector__gemm_core_avx512, lector__matmul_avx512};

static void check_matmul_simd(const struct gemm_variant *var, int64_t N, int64_t IC, int64_t OC,
                              int with_bias) {
    float *x = rand_array(N * IC), *w = rand_array(OC * IC), *bias = rand_array(OC);
    const float *bb = with_bias ? bias : NULL;
    size_t n_out = (size_t)(N * OC > 0 ? N * OC : 1);
    float *ref = malloc(n_out * sizeof *ref), *got = malloc(n_out * sizeof *got);
    float *part = malloc(n_out * sizeof *part);
    lector_matmul_ref(ref, x, w, bb, N, IC, OC);
    lector__gemm_cols(var->core, got, x, w, bb, N, IC, OC, 0, OC);
    float tol = 1e-5f * (1.0f + sqrtf((float)IC));
    float diff = test_max_abs_diff(ref, got, N * OC);
    if (!(diff <= tol))
        fail_msg("%s matmul N=%lld IC=%lld OC=%lld bias=%d: max diff %g > %g", var->name,
                 (long long)N, (long long)IC, (long long)OC, with_bias, (double)diff,
                 (double)tol);
    // column panels computed separately give the same bits as one pass
    for (int64_t o0 = 0, nr = var->core->nr; o0 < OC; o0 += nr) {
        int64_t o1 = o0 + nr < OC ? o0 + nr : OC;
        lector__gemm_cols(var->core, part, x, w, bb, N, IC, OC, o0, o1);
    }
    assert_memory_equal(got, part, (size_t)(N * OC) * sizeof *got);
    // and so does the threaded entry point, for 1, 2 and 3 threads
    for (int n = 1; n <= 3; n++) {
        lector__kernels_set_n_threads(n);
        var->matmul(part, x, w, bb, N, IC, OC);
        assert_memory_equal(got, part, (size_t)(N * OC) * sizeof *got);
    }
    lector__kernels_set_n_threads(0);
    free(x), free(w), free(bias), free(ref), free(got), free(part);
}

static void check_matmul_variant(const struct gemm_variant *var) {
    check_matmul_simd(var, 1, 1, 1, 1);
    check_matmul_simd(var, 1, 17, 5, 1);
    check_matmul_simd(var, 7, 33, 19, 0);
    check_matmul_simd(var, 13, 128, 384, 1);
    check_matmul_simd(var, 97, 600, 200, 1);  // depth over two KC blocks, ragged rows and columns
    check_matmul_simd(var, 200, 64, 1100, 0); // more than one NC block of columns
    check_matmul_simd(var, 5, 0, 70, 1);      // IC = 0: the bias
    check_matmul_simd(var, 8, 3100, 40, 1);   // depth over two blocks of the widest KC
}

static void test_matmul_avx512_matches_ref(void **state) {
    (void)state;
    if (!lector__kernels_have_avx512()) test_skip();
    check_matmul_variant(&gemm_avx512);
}

static void test_matmul_avx2_matches_ref(void **state) {
    (void)state;
    if (!lector__kernels_have_avx2()) test_skip();
    check_matmul_variant(&gemm_avx2);
}

// Batch invariance: the first M rows of a product computed as a batch of M (for M from 1
// to past a row block), each row alone, and the whole batch on 1, 2 and 3 threads, give
// the bits of the whole batch on one thread. Also reports the largest absolute and
// relative differences from the double-accumulated reference.
static void check_matmul_batch_invariant(const struct gemm_variant *var, int64_t IC,
                                         int64_t OC) {
    const int64_t N = 400; // over two row blocks of the widest split
    float *x = rand_array(N * IC), *w = rand_array(OC * IC), *bias = rand_array(OC);
    size_t n_out = (size_t)(N * OC);
    float *ref = malloc(n_out * sizeof *ref), *all = malloc(n_out * sizeof *all);
    float *got = malloc(n_out * sizeof *got);
    lector__kernels_set_n_threads(1);
    var->matmul(all, x, w, bias, N, IC, OC);
    lector_matmul_ref(ref, x, w, bias, N, IC, OC);
    double max_abs = 0.0, max_rel = 0.0;
    for (size_t i = 0; i < n_out; i++) {
        double d = fabs((double)all[i] - (double)ref[i]);
        double r = d / (fabs((double)ref[i]) > 1e-3 ? fabs((double)ref[i]) : 1e-3);
        max_abs = d > max_abs ? d : max_abs;
        max_rel = r > max_rel ? r : max_rel;
    }
    print_message("%s matmul IC=%lld OC=%lld N=%lld vs double ref: max abs %.3g, max rel %.3g "
                  "(|ref| floored at 1e-3)\n",
                  var->name, (long long)IC, (long long)OC, (long long)N, max_abs, max_rel);
    assert_true(max_abs <= 1e-5 * (1.0 + sqrt((double)IC)));
    const int64_t ms[] = {1, 2, 3, 5, 6, 7, 13, 31, 64, 97, 200, 256, 399};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        int64_t M = ms[i];
        for (int n = 1; n <= 3; n++) {
            lector__kernels_set_n_threads(n);
            memset(got, 0xff, (size_t)(M * OC) * sizeof *got);
            var->matmul(got, x, w, bias, M, IC, OC);
            if (memcmp(got, all, (size_t)(M * OC) * sizeof *got) != 0)
                fail_msg("%s matmul IC=%lld OC=%lld: the first %lld rows as a batch of %lld "
                         "on %d threads differ from the batch of %lld",
                         var->name, (long long)IC, (long long)OC, (long long)M, (long long)M, n,
                         (long long)N);
        }
    }
    for (int n = 1; n <= 3; n++) { // every row alone (rows at each place of a tile)
        lector__kernels_set_n_threads(n);
        for (int64_t r = 0; r < N; r += n == 1 ? 1 : 37) {
            var->matmul(got, x + r * IC, w, bias, 1, IC, OC);
            if (memcmp(got, all + r * OC, (size_t)OC * sizeof *got) != 0)
                fail_msg("%s matmul IC=%lld OC=%lld: row %lld alone on %d threads differs from "
                         "the same row in the batch",
                         var->name, (long long)IC, (long long)OC, (long long)r, n);
        }
        var->matmul(got, x, w, bias, N, IC, OC); // the whole batch
        assert_memory_equal(got, all, n_out * sizeof *got);
    }
    lector__kernels_set_n_threads(0);
    free(x), free(w), free(bias), free(ref), free(all), free(got);
}

static void test_matmul_avx2_batch_invariant(void **state) {
    (void)state;
    if (!lector__kernels_have_avx2()) test_skip();
    check_matmul_batch_invariant(&gemm_avx2, 384, 200);  // ragged panel, the MiniLM depth
    check_matmul_batch_invariant(&gemm_avx2, 600, 1152); // QKV width (AVX-512: two KC blocks)
    check_matmul_batch_invariant(&gemm_avx2, 1700, 72);  // two KC blocks of the AVX2 sgemm
}

static void test_matmul_avx512_batch_invariant(void **state) {
    (void)state;
    if (!lector__kernels_have_avx512()) test_skip();
    check_matmul_batch_invariant(&gemm_avx512, 384, 200);
    check_matmul_batch_invariant(&gemm_avx512, 600, 1152);
    check_matmul_batch_invariant(&gemm_avx512, 1700, 72);
}

// Packed weights: one call or three pieces (as QKV is packed) give the same panels, and
// lector_matmul_packed with each activation gives the same bits as the unpacked product
// followed by lector_bias_act, for 1, 2 and 3 threads; the products match the reference.
static void check_matmul_packed(int64_t N, int64_t IC, int64_t OC) {
    float *x = rand_array(N * IC), *w = rand_array(OC * IC), *bias = rand_array(OC);
    size_t n_p = lector_matmul_packed_size(IC, OC), n_out = (size_t)(N * OC);
    float *p1 = lector__aligned_alloc(n_p * sizeof(float) + 64);
    float *p3 = lector__aligned_alloc(n_p * sizeof(float) + 64);
    assert_non_null(p1);
    assert_non_null(p3);
    lector_matmul_pack_rows(p1, w, IC, OC, 0, OC);
    memset(p3, 0, n_p * sizeof(float));
    int64_t cut1 = OC / 3, cut2 = 2 * OC / 3;
    lector_matmul_pack_rows(p3, w, IC, OC, 0, cut1);
    lector_matmul_pack_rows(p3, w + cut1 * IC, IC, OC, cut1, cut2 - cut1);
    lector_matmul_pack_rows(p3, w + cut2 * IC, IC, OC, cut2, OC - cut2);
    assert_memory_equal(p1, p3, n_p * sizeof(float));

    float *ref = malloc(n_out * sizeof *ref), *want = malloc(n_out * sizeof *want);
    float *got = malloc(n_out * sizeof *got);
    lector_matmul_ref(ref, x, w, bias, N, IC, OC);
    const enum lector__act acts[] = {LECTOR__ACT_NONE, LECTOR__ACT_GELU, LECTOR__ACT_GELU_NEW,
                                     LECTOR__ACT_RELU};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        lector__kernels_set_n_threads(1);
        lector_matmul(want, x, w, bias, N, IC, OC);
        if (a == 0) {
            float tol = 1e-5f * (1.0f + sqrtf((float)IC));
            float diff = test_max_abs_diff(ref, want, N * OC);
            if (!(diff <= tol))
                fail_msg("packed matmul N=%lld IC=%lld OC=%lld: max diff %g > %g", (long long)N,
                         (long long)IC, (long long)OC, (double)diff, (double)tol);
        }
        lector_bias_act(want, NULL, N, OC, acts[a]);
        for (int n = 1; n <= 3; n++) {
            lector__kernels_set_n_threads(n);
            memset(got, 0xff, n_out * sizeof *got);
            lector_matmul_packed(got, x, p1, bias, N, IC, OC, acts[a]);
            if (memcmp(got, want, n_out * sizeof *got) != 0)
                fail_msg("packed matmul N=%lld IC=%lld OC=%lld act %d, %d threads: not the same "
                         "bits as matmul + bias_act",
                         (long long)N, (long long)IC, (long long)OC, (int)acts[a], n);
        }
    }
    // a row alone gives the same bits as inside the batch
    if (N > 1) {
        lector_matmul_packed(got, x + (N - 1) * IC, p1, bias, 1, IC, OC, LECTOR__ACT_NONE);
        lector_matmul_packed(want, x, p1, bias, N, IC, OC, LECTOR__ACT_NONE);
        assert_memory_equal(got, want + (N - 1) * OC, (size_t)OC * sizeof *got);
    }
    lector__kernels_set_n_threads(0);
    lector__aligned_free(p1), lector__aligned_free(p3);
    free(x), free(w), free(bias), free(ref), free(want), free(got);
}

static void test_matmul_packed_matches_unpacked(void **state) {
    (void)state;
    if (lector_matmul_packed_size(8, 8) == 0) test_skip(); // no packed path on this CPU
    check_matmul_packed(1, 17, 5);
    check_matmul_packed(7, 33, 130);   // ragged last panel
    check_matmul_packed(13, 300, 200); // depth over two KC blocks (AVX-512)
    check_matmul_packed(5, 1700, 40);  // depth over two KC blocks (AVX2)
    check_matmul_packed(400, 64, 192); // more than one row block per thread
    check_matmul_packed(3, 0, 70);     // IC = 0: act(bias)
}

// The first-use product from the plain weight (lector__gemm_rows, lector_matmul_rows): the
// same bytes as the packed product on the packed weight, whatever the thread count, for
// the weight in one piece or in three (QKV's matrices, pieces off the panel grid), with
// rows only float-aligned (as a mapped checkpoint's), for every activation.
static void check_matmul_rows(const struct gemm_variant *var, int64_t N, int64_t IC,
                              int64_t OC) {
    int64_t nr = var->core->nr;
    float *x = rand_array(N * IC), *bias = rand_array(OC);
    float *wmem = rand_array(OC * IC + 1), *w = wmem + 1; // 4 bytes past malloc's alignment
    size_t n_p = lector__gemm_packed_size(nr, IC, OC), n_out = (size_t)(N * OC);
    float *packed = lector__aligned_alloc((n_p ? n_p : 1) * sizeof(float));
    float *want = malloc(n_out * sizeof *want), *got = malloc(n_out * sizeof *got);
    assert_non_null(packed);
    lector__gemm_pack_rows(nr, packed, w, IC, OC, 0, OC);
    int64_t third = (OC + 2) / 3; // three pieces of this many rows, the last shorter
    const float *one[1] = {w}, *three[3] = {w, w + third * IC, w + 2 * third * IC};
    const enum lector__act acts[] = {LECTOR__ACT_NONE, LECTOR__ACT_GELU, LECTOR__ACT_GELU_NEW,
                                     LECTOR__ACT_RELU};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        lector__kernels_set_n_threads(1);
        lector__gemm_packed(var->core, want, x, packed, bias, N, IC, OC, acts[a]);
        for (int n = 1; n <= 2; n++) {
            lector__kernels_set_n_threads(n);
            for (int k = 0; k < 2; k++) {
                memset(got, 0xff, n_out * sizeof *got);
                assert_true(lector__gemm_rows(var->core, got, x, k ? three : one,
                                              k ? third : OC, bias, N, IC, OC, acts[a]));
                if (memcmp(got, want, n_out * sizeof *got) != 0)
                    fail_msg("%s rows product N=%lld IC=%lld OC=%lld act %d, %d piece(s), %d "
                             "threads: not the bytes of the packed product",
                             var->name, (long long)N, (long long)IC, (long long)OC,
                             (int)acts[a], k ? 3 : 1, n);
            }
            // and the dispatch entry where this table has it
            if (lector_matmul_rows_available() && lector__kernels_packed_nr() == nr) {
                memset(got, 0xff, n_out * sizeof *got);
                assert_true(lector_matmul_rows(got, x, three, third, bias, N, IC, OC, acts[a]));
                assert_memory_equal(got, want, n_out * sizeof *got);
            }
        }
    }
    lector__kernels_set_n_threads(0);
    lector__aligned_free(packed);
    free(x), free(wmem), free(bias), free(want), free(got);
}

static void check_matmul_rows_variant(const struct gemm_variant *var) {
    check_matmul_rows(var, 1, 17, 5);      // one ragged panel
    check_matmul_rows(var, 7, 33, 130);    // ragged last panel
    check_matmul_rows(var, 2, 21, 63);     // QKV of C = 21: pieces straddle panels
    check_matmul_rows(var, 13, 300, 200);  // depth over two KC blocks (AVX-512)
    check_matmul_rows(var, 5, 1700, 40);   // depth over two KC blocks (AVX2)
    check_matmul_rows(var, 3, 128, 1152);  // many panels, split over the threads
    check_matmul_rows(var, 400, 64, 192);  // more than one row block
    check_matmul_rows(var, 3, 0, 70);      // IC = 0: act(bias)
}

static void test_matmul_rows_avx2(void **state) {
    (void)state;
    if (!lector__kernels_have_avx2()) test_skip();
    check_matmul_rows_variant(&gemm_avx2);
}

static void test_matmul_rows_avx512(void **state) {
    (void)state;
    if (!lector__kernels_have_avx512()) test_skip();
    check_matmul_rows_variant(&gemm_avx512);
}

// ----------------------------------------------------------------------------
// bf16 product

static void test_bf16_rounding(void **state) {
    (void)state;
    // round to nearest even on the 16 dropped bits
    assert_int_equal(lector_f32_to_bf16(1.0f), 0x3f80);
    float x;
    uint32_t u = 0x3f808000u; // exactly half way, even below: stays
    memcpy(&x, &u, sizeof x);
    assert_int_equal(lector_f32_to_bf16(x), 0x3f80);
    u = 0x3f818000u; // half way, odd below: up
    memcpy(&x, &u, sizeof x);
    assert_int_equal(lector_f32_to_bf16(x), 0x3f82);
    u = 0x3f808001u; // above half: up
    memcpy(&x, &u, sizeof x);
    assert_int_equal(lector_f32_to_bf16(x), 0x3f81);
    assert_int_equal(lector_f32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(lector_f32_to_bf16(NAN) & 0x7fc0, 0x7fc0);
    assert_true(lector_bf16_to_f32(lector_f32_to_bf16(-2.5f)) == -2.5f);
}

static void check_matmul_bf16(int64_t N, int64_t IC, int64_t OC) {
    float *x = rand_array(N * IC), *w = rand_array(OC * IC), *bias = rand_array(OC);
    size_t n_p = lector_matmul_bf16_packed_size(IC, OC), n_out = (size_t)(N * OC);
    uint16_t *pb = lector__aligned_alloc(n_p * sizeof(uint16_t) + 64);
    uint16_t *pb2 = lector__aligned_alloc(n_p * sizeof(uint16_t) + 64);
    float *pf = lector__aligned_alloc(lector_matmul_packed_size(IC, OC) * sizeof(float) + 64);
    assert_non_null(pb);
    assert_non_null(pb2);
    assert_non_null(pf);
    lector_matmul_bf16_pack(pb, w, IC, OC);
    lector_matmul_pack_rows(pf, w, IC, OC, 0, OC);
    lector_matmul_bf16_pack_from_packed(pb2, pf, IC, OC);
    assert_memory_equal(pb, pb2, n_p * sizeof(uint16_t));

    float *ref = malloc(n_out * sizeof *ref), *want = malloc(n_out * sizeof *want);
    float *got = malloc(n_out * sizeof *got);
    assert_non_null(ref);
    assert_non_null(want);
    assert_non_null(got);
    lector_matmul_bf16_ref(ref, x, w, bias, N, IC, OC);
    lector__kernels_set_n_threads(1);
    lector_matmul_bf16_packed(want, x, pb, bias, N, IC, OC, LECTOR__ACT_NONE);
    float tol = 1e-5f * (1.0f + sqrtf((float)IC));
    float diff = test_max_abs_diff(ref, want, N * OC);
    if (!(diff <= tol))
        fail_msg("bf16 matmul N=%lld IC=%lld OC=%lld: max diff %g > %g", (long long)N,
                 (long long)IC, (long long)OC, (double)diff, (double)tol);
    const enum lector__act acts[] = {LECTOR__ACT_NONE, LECTOR__ACT_GELU, LECTOR__ACT_GELU_NEW,
                                     LECTOR__ACT_RELU};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        lector__kernels_set_n_threads(1);
        lector_matmul_bf16_packed(want, x, pb, bias, N, IC, OC, LECTOR__ACT_NONE);
        lector_bias_act(want, NULL, N, OC, acts[a]);
        for (int n = 1; n <= 3; n++) {
            lector__kernels_set_n_threads(n);
            memset(got, 0xff, n_out * sizeof *got);
            lector_matmul_bf16_packed(got, x, pb, bias, N, IC, OC, acts[a]);
            if (memcmp(got, want, n_out * sizeof *got) != 0)
                fail_msg("bf16 matmul N=%lld IC=%lld OC=%lld act %d, %d threads: not the same "
                         "bits as without the epilogue + bias_act",
                         (long long)N, (long long)IC, (long long)OC, (int)acts[a], n);
        }
    }
    if (N > 1) { // a row alone gives the same bits as inside the batch
        lector_matmul_bf16_packed(got, x + (N - 1) * IC, pb, bias, 1, IC, OC, LECTOR__ACT_NONE);
        lector_matmul_bf16_packed(want, x, pb, bias, N, IC, OC, LECTOR__ACT_NONE);
        assert_memory_equal(got, want + (N - 1) * OC, (size_t)OC * sizeof *got);
    }
    lector__kernels_set_n_threads(0);
    lector__aligned_free(pb), lector__aligned_free(pb2), lector__aligned_free(pf);
    free(x), free(w), free(bias), free(ref), free(want), free(got);
}

static void test_matmul_bf16_matches_ref(void **state) {
    (void)state;
    if (lector_matmul_bf16_packed_size(8, 8) == 0) {
        printf("note: no AVX-512 BF16 on this CPU (or LECTOR_KERNELS set): bf16 product "
               "not tested\n");
        test_skip();
    }
    check_matmul_bf16(1, 16, 5);
    check_matmul_bf16(1, 17, 64);   // T = 1, odd depth (a zero pad k)
    check_matmul_bf16(7, 33, 130);  // ragged last panel
    check_matmul_bf16(13, 300, 200); // depth over two KC blocks
    check_matmul_bf16(400, 64, 192); // more than one row block per thread
    check_matmul_bf16(9, 768, 96);
    check_matmul_bf16(3, 0, 70);     // IC = 0: act(bias)
}

// ----------------------------------------------------------------------------
// int8 product

static void test_int8_quantisation(void **state) {
    (void)state;
    // weights: symmetric, max |w| -> 127, ties to even, NaN -> 0, an all-zero column -> 0
    const float w[4] = {-2.0f, 1.0f, 0.5f * 2.0f / 127.0f, 1.5f * 2.0f / 127.0f};
    float sw = lector__int8_weight_scale(w, 4, 1);
    assert_true(sw == 2.0f / 127.0f);
    assert_int_equal(lector__int8_quantize_weight(w[0], sw), -127);
    assert_int_equal(lector__int8_quantize_weight(w[1], sw), 64); // 63.5 -> 64 (even)
    assert_int_equal(lector__int8_quantize_weight(w[2], sw), 0);  // 0.5 -> 0
    assert_int_equal(lector__int8_quantize_weight(w[3], sw), 2);  // 1.5 -> 2
    assert_int_equal(lector__int8_quantize_weight(NAN, sw), 0);
    assert_int_equal(lector__int8_quantize_weight(3.0f, 0.0f), 0);
    // inputs: the range widened to 0, zero point so that 0 is exact
    float sa, inv;
    int32_t zp;
    lector__int8_row_params(-1.0f, 3.0f, &sa, &inv, &zp);
    assert_true(sa == 4.0f / 255.0f);
    assert_int_equal(zp, 64); // 63.75 -> 64
    assert_int_equal(lector__int8_quantize_input(0.0f, inv, (float)zp), 64);
    assert_int_equal(lector__int8_quantize_input(3.0f, inv, (float)zp), 255);
    assert_int_equal(lector__int8_quantize_input(-1.0f, inv, (float)zp), 0);
    assert_int_equal(lector__int8_quantize_input(NAN, inv, (float)zp), 0);
    lector__int8_row_params(0.5f, 2.0f, &sa, &inv, &zp); // all positive: zp 0
    assert_int_equal(zp, 0);
    lector__int8_row_params(0.0f, 0.0f, &sa, &inv, &zp); // all zero: scale 1, zp 0
    assert_true(sa == 1.0f);
    assert_int_equal(zp, 0);
}

// |int8 product - fp32 product| <= 0.5 sw sum|x| + 0.5 sa sum|wq sw| + float slack, per
// element: each product term is off by at most |x| |w - wq sw| + |wq sw| |x - xq|
static void check_int8_vs_fp32(const float *x, const float *w, const float *got, int64_t N,
                               int64_t IC, int64_t OC) {
    for (int64_t o = 0; o < OC; o++) {
        float sw = lector__int8_weight_scale(w + o * IC, IC, 1);
        double wabs = 0;
        for (int64_t k = 0; k < IC; k++)
            wabs += fabs((double)lector__int8_quantize_weight(w[o * IC + k], sw) * (double)sw);
        for (int64_t n = 0; n < N; n++) {
            float lo = 0, hi = 0, sa, inv;
            int32_t zp;
            double exact = 0, xabs = 0;
            for (int64_t k = 0; k < IC; k++) {
                lo = fminf(lo, x[n * IC + k]), hi = fmaxf(hi, x[n * IC + k]);
                exact += (double)x[n * IC + k] * (double)w[o * IC + k];
                xabs += fabs((double)x[n * IC + k]);
            }
            lector__int8_row_params(lo, hi, &sa, &inv, &zp);
            double bound = 0.5 * (double)sw * xabs + 0.5 * (double)sa * wabs +
                           1e-5 * (1 + sqrt((double)IC));
            double d = fabs((double)got[n * OC + o] - exact);
            if (!(d <= bound))
                fail_msg("int8 N=%lld IC=%lld OC=%lld [%lld, %lld]: |diff| %g > bound %g",
                         (long long)N, (long long)IC, (long long)OC, (long long)n, (long long)o,
                         d, bound);
        }
    }
}

// The int8 variant v against lector_matmul_int8_ref, bit for bit: with and without bias,
// each activation, 1-3 threads, each row alone; its packing from the fp32 panels (when
// the chosen table has them) the same bytes as from the plain weight.
static void check_matmul_int8(const struct lector__int8_kernels *v, int64_t N, int64_t IC,
                              int64_t OC) {
    float *x = rand_array(N * IC), *w = rand_array(OC * IC);
    size_t n_p = lector__int8_packed_size(v->g, v->nr, IC, OC), n_out = (size_t)(N * OC);
    int64_t nr = lector__kernels_packed_nr();
    int8_t *pq = lector__aligned_alloc(n_p + 64), *pq2 = lector__aligned_alloc(n_p + 64);
    float *pf = lector__aligned_alloc(lector_matmul_packed_size(IC, OC) * sizeof(float) + 64);
    float *ref = malloc(n_out * sizeof *ref), *got = malloc(n_out * sizeof *got);
    float *one = malloc((size_t)OC * sizeof *one);
    assert_true(pq && pq2 && pf && ref && got && one);
    if (IC > 2) x[IC / 2] = 40.0f; // an outlier in row 0: a coarse scale for that row
    bool nan_row = N >= 2 && IC >= 2;
    if (nan_row) x[IC + 1] = NAN; // quantises to 0, and row 1's range ignores it
    lector__int8_pack(pq, v->g, v->nr, w, 0, IC, OC);
    if (nr > 0) {
        lector_matmul_pack_rows(pf, w, IC, OC, 0, OC);
        lector__int8_pack(pq2, v->g, v->nr, pf, nr, IC, OC);
        assert_memory_equal(pq, pq2, n_p);
    }
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        float *bias = with_bias ? rand_array(OC) : NULL;
        lector_matmul_int8_ref(ref, x, w, bias, N, IC, OC);
        const enum lector__act acts[] = {LECTOR__ACT_NONE, LECTOR__ACT_GELU, LECTOR__ACT_RELU};
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
            for (int n = 1; n <= 3; n++) {
                lector__kernels_set_n_threads(n);
                memset(got, 0xff, n_out * sizeof *got);
                v->packed(got, x, pq, bias, N, IC, OC, acts[a]);
                float *want = ref;
                if (acts[a] != LECTOR__ACT_NONE) { // the epilogue = the product, then bias_act
                    want = malloc(n_out * sizeof *want);
                    assert_non_null(want);
                    memcpy(want, ref, n_out * sizeof *want);
                    lector_bias_act(want, NULL, N, OC, acts[a]);
                }
                if (memcmp(got, want, n_out * sizeof *got) != 0)
                    fail_msg("int8 %s N=%lld IC=%lld OC=%lld bias %d act %d, %d threads: not "
                             "the reference's bits (max diff %g)",
                             v->name, (long long)N, (long long)IC, (long long)OC, with_bias,
                             (int)acts[a], n, (double)test_max_abs_diff(got, want, N * OC));
                if (want != ref) free(want);
            }
        }
        for (int64_t r = 0; r < N; r++) { // each row alone: the same bits as in the batch
            v->packed(one, x + r * IC, pq, bias, 1, IC, OC, LECTOR__ACT_NONE);
            assert_memory_equal(one, ref + r * OC, (size_t)OC * sizeof *one);
        }
        if (!bias && !nan_row) check_int8_vs_fp32(x, w, ref, N, IC, OC);
        if (!bias && nan_row) { // every row but the one with the NaN
            check_int8_vs_fp32(x, w, ref, 1, IC, OC);
            check_int8_vs_fp32(x + 2 * IC, w, ref + 2 * OC, N - 2, IC, OC);
        }
        free(bias);
    }
    lector__kernels_set_n_threads(0);
    lector__aligned_free(pq), lector__aligned_free(pq2), lector__aligned_free(pf);
    free(x), free(w), free(ref), free(got), free(one);
}

static void check_int8_variant(const struct lector__int8_kernels *v) {
    for (int64_t N = 1; N <= 13; N++) check_matmul_int8(v, N, 37, 70); // odd IC, OC % 64, % 16
    check_matmul_int8(v, 1, 1, 1);
    check_matmul_int8(v, 2, 3, 65);
    check_matmul_int8(v, 5, 64, 64);
    check_matmul_int8(v, 7, 15, 16);   // the quantisation's 16-wide loop and its tail
    check_matmul_int8(v, 13, 1030, 200); // depth over two KC blocks, not a multiple of 4
    check_matmul_int8(v, 400, 66, 130);  // more than one row block per thread
    check_matmul_int8(v, 9, 768, 96);
    check_matmul_int8(v, 3, 0, 70); // IC = 0: act(bias)
}

// the VNNI product (test_kernels_avx512)
static void test_matmul_int8_matches_ref(void **state) {
    (void)state;
    if (lector__kernels_int8() != &lector__int8_avx512) {
        printf("note: no AVX-512 VNNI on this CPU (or LECTOR_KERNELS set): VNNI int8 product "
               "not tested\n");
        test_skip();
    }
    check_int8_variant(&lector__int8_avx512);
}

// the AVX2 product (test_kernels), whatever dispatch chose; and dispatch: int8 is there
// wherever the AVX2 kernels are
static void test_matmul_int8_avx2_matches_ref(void **state) {
    (void)state;
    if (!lector__kernels_have_avx2()) {
        printf("note: no AVX2 on this CPU: AVX2 int8 product not tested\n");
        test_skip();
    }
    assert_non_null(lector__kernels_int8());
    assert_true(lector_matmul_int8_packed_size(8, 8) > 0);
    check_int8_variant(&lector__int8_avx2);
}

// LECTOR_KERNELS=ref (test_kernels_ref): no int8 product, so the encoder refuses int8
static void test_int8_refused_on_ref(void **state) {
    (void)state;
    assert_string_equal(lector__kernels()->name, "ref");
    assert_null(lector__kernels_int8());
    assert_int_equal(lector_matmul_int8_packed_size(8, 8), 0);
}

// Three ctest entries: test_kernels (references, dispatch, the AVX2 variants and product),
// test_kernels_avx512 (argument "avx512": the AVX-512 variants and the AVX-512 products),
// so that a CPU without AVX-512 shows the second as Skipped and the first as Passed, and
// test_kernels_ref (argument "ref", run with LECTOR_KERNELS=ref: the entry points on the
// portable table, cblas_sgemm for matmul, which a CPU with AVX2 otherwise never runs).
int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_ref_small_example),
        cmocka_unit_test(test_matmul_sgemm_matches_ref),
        cmocka_unit_test(test_gelu_known_points),
        cmocka_unit_test(test_elementwise_fast_matches_ref),
        cmocka_unit_test(test_bias_and_residual_add),
        cmocka_unit_test(test_layernorm_hand_example),
        cmocka_unit_test(test_layernorm_fast_matches_ref),
        cmocka_unit_test(test_attention_matches_double),
        cmocka_unit_test(test_attention_padding_only_masks_keys),
        cmocka_unit_test(test_pooling_mask_aware),
        cmocka_unit_test(test_tanh_ref),
        cmocka_unit_test(test_dispatch_names_a_variant),
        cmocka_unit_test(test_bias_gelu_variants_match_ref),
        cmocka_unit_test(test_residual_layernorm_variants_match_ref),
        cmocka_unit_test(test_attention_variants_match_double),
        cmocka_unit_test(test_attention_variants_batch_invariant),
        cmocka_unit_test(test_attention_threads_identical),
        cmocka_unit_test(test_matmul_avx2_matches_ref),
        cmocka_unit_test(test_matmul_avx2_batch_invariant),
        cmocka_unit_test(test_matmul_packed_matches_unpacked),
        cmocka_unit_test(test_matmul_rows_avx2),
        cmocka_unit_test(test_bias_relu_variants_match_ref),
        cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_int8_quantisation),
        cmocka_unit_test(test_matmul_int8_avx2_matches_ref),
    };
    const struct CMUnitTest avx512_tests[] = {
        cmocka_unit_test(test_bias_gelu_variants_match_ref),
        cmocka_unit_test(test_residual_layernorm_variants_match_ref),
        cmocka_unit_test(test_attention_variants_match_double),
        cmocka_unit_test(test_attention_variants_batch_invariant),
        cmocka_unit_test(test_bias_relu_variants_match_ref),
        cmocka_unit_test(test_matmul_avx512_matches_ref),
        cmocka_unit_test(test_matmul_avx512_batch_invariant),
        cmocka_unit_test(test_matmul_packed_matches_unpacked),
        cmocka_unit_test(test_matmul_rows_avx512),
        cmocka_unit_test(test_matmul_bf16_matches_ref),
        cmocka_unit_test(test_matmul_int8_matches_ref),
    };
    const struct CMUnitTest ref_tests[] = {
        cmocka_unit_test(test_matmul_ref_small_example),
        cmocka_unit_test(test_matmul_sgemm_matches_ref),
        cmocka_unit_test(test_gelu_known_points),
        cmocka_unit_test(test_elementwise_fast_matches_ref),
        cmocka_unit_test(test_bias_and_residual_add),
        cmocka_unit_test(test_layernorm_hand_example),
        cmocka_unit_test(test_layernorm_fast_matches_ref),
        cmocka_unit_test(test_attention_matches_double),
        cmocka_unit_test(test_attention_padding_only_masks_keys),
        cmocka_unit_test(test_pooling_mask_aware),
        cmocka_unit_test(test_dispatch_names_a_variant),
        cmocka_unit_test(test_attention_threads_identical),
        cmocka_unit_test(test_int8_refused_on_ref),
    };
    if (argc > 1 && strcmp(argv[1], "ref") == 0)
        return test_status(cmocka_run_group_tests(ref_tests, NULL, NULL));
    if (argc > 1 && strcmp(argv[1], "avx512") == 0) {
        g_isa = "avx512";
        return test_status(cmocka_run_group_tests(avx512_tests, NULL, NULL));
    }
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
