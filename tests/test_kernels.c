// Tests for src/kernels: each fast op against its reference, the references against
// hand-computed values and a double-precision attention.
//
// Tolerances (max absolute difference):
//   matmul (sgemm vs double-accumulated reference): 1e-5 * (1 + sqrt(IC)), inputs in [-1, 1]
//   attention (online vs reference, both vs double):  2e-6, inputs in [-1, 1] (scores up to ~4)
//   layernorm vs a hand example:                       1e-6
//   gelu / gelu_new at known points:                   1e-7 (float rounding of erff/tanhf)
//   pooling:                                           exact or 1e-6 (mean divides)
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
#include "testutil.h"

// ----------------------------------------------------------------------------
// helpers

// Deterministic xorshift generator: tests must not depend on the C library's rand().
static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static float rand_uniform(void) { // [-1, 1)
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_array(int64_t n) {
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) x[i] = rand_uniform();
    return x;
}

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
        assert_memory_equal(r, b, (size_t)n * sizeof *b);
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
    assert_memory_equal(y, out, sizeof out);
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
                double mx = -INFINITY;
                for (int64_t j = 0; j < T; j++) {
                    if (mask && !mask[b * T + j]) {
                        p[j] = -INFINITY;
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

int main(void) {
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
