// Matrix products: the naive reference, and the fast entry point: our AVX-512 or AVX2 sgemm
// (gemm_avx512.c, gemm_avx2.c) where dispatch chose it, else cblas_sgemm. This is the only file that
// includes <cblas.h>, so the BLAS dependency stays in one place.
#include "kernels/kernels.h"

#include <cblas.h>
#include <string.h>

#include "base/base_impl.h"
#include "kernels/kernels_impl.h"

// ----------------------------------------------------------------------------
// reference

static float bf16_round(float x) { return lector_bf16_to_f32(lector_f32_to_bf16(x)); }

// out (N, OC) <- inp (N, IC) . weight (OC, IC)^T + bias (OC, or NULL), products and sums in
// double, rounded to float at the end. Without bf16, the sum starts from the bias; with bf16,
// the operands are rounded to bf16 first and the bias is added to the finished sum.
static void matmul_double(float *out, const float *inp, const float *weight, const float *bias,
                          int64_t N, int64_t IC, int64_t OC, bool bf16) {
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * IC;
        for (int64_t o = 0; o < OC; o++) {
            const float *w = weight + o * IC;
            double acc = bias && !bf16 ? (double)bias[o] : 0.0;
            if (bf16)
                for (int64_t i = 0; i < IC; i++)
                    acc += (double)bf16_round(x[i]) * (double)bf16_round(w[i]);
            else
                for (int64_t i = 0; i < IC; i++) acc += (double)x[i] * (double)w[i];
            out[n * OC + o] = (float)(bf16 ? acc + (bias ? (double)bias[o] : 0.0) : acc);
        }
    }
}

// https://pytorch.org/docs/stable/generated/torch.nn.functional.linear.html
void lector_matmul_ref(float *out,          // (N, OC)
                       const float *inp,    // (N, IC)
                       const float *weight, // (OC, IC)
                       const float *bias,   // (OC) or NULL
                       int64_t N, int64_t IC, int64_t OC) {
    // double accumulation: this is the yardstick the sgemm path is measured against
    matmul_double(out, inp, weight, bias, N, IC, OC, false);
}

// ----------------------------------------------------------------------------
// BLAS

void lector_matmul(float *out, const float *inp, const float *weight, const float *bias,
                   int64_t N, int64_t IC, int64_t OC) {
    LECTOR_ASSERT(N >= 0 && IC >= 0 && OC >= 0);
    LECTOR_ASSERT(N <= INT32_MAX && IC <= INT32_MAX && OC <= INT32_MAX);
    if (N == 0 || OC == 0) return;
    const struct lector__kernel_table *k = lector__kernels();
    if (k->matmul) {
        k->matmul(out, inp, weight, bias, N, IC, OC);
        return;
    }
    float beta = 0.0f;
    if (bias) {
        // Start every row from the bias and let sgemm accumulate onto it (beta = 1).
        for (int64_t n = 0; n < N; n++) {
            float *o = out + n * OC;
            for (int64_t j = 0; j < OC; j++) o[j] = bias[j];
        }
        beta = 1.0f;
    }
    // Row-major out (N, OC) = inp (N, IC) x weight^T, weight stored (OC, IC).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)OC, (int)IC, 1.0f, inp,
                (int)IC, weight, (int)IC, beta, out, (int)OC);
}

// ----------------------------------------------------------------------------
// pre-packed weights

size_t lector_matmul_packed_size(int64_t IC, int64_t OC) {
    LECTOR_ASSERT(IC >= 0 && OC >= 0);
    const struct lector__kernel_table *k = lector__kernels();
    return k->matmul_packed ? k->matmul_packed_size(IC, OC) : 0;
}

void lector_matmul_pack_rows(float *packed, const float *rows, int64_t IC, int64_t OC,
                             int64_t o0, int64_t n) {
    const struct lector__kernel_table *k = lector__kernels();
    LECTOR_ASSERT(k->matmul_pack_rows); // callers check lector_matmul_packed_size first
    k->matmul_pack_rows(packed, rows, IC, OC, o0, n);
}

void lector_matmul_packed(float *out, const float *inp, const float *packed, const float *bias,
                          int64_t N, int64_t IC, int64_t OC, enum lector__act act) {
    const struct lector__kernel_table *k = lector__kernels();
    LECTOR_ASSERT(k->matmul_packed);
    k->matmul_packed(out, inp, packed, bias, N, IC, OC, act);
}

bool lector_matmul_rows_available(void) { return lector__kernels()->matmul_rows != NULL; }

bool lector_matmul_rows(float *out, const float *inp, const float *const *rows,
                        int64_t n_piece_rows, const float *bias, int64_t N, int64_t IC,
                        int64_t OC, enum lector__act act) {
    const struct lector__kernel_table *k = lector__kernels();
    LECTOR_ASSERT(k->matmul_rows); // callers check lector_matmul_rows_available first
    return k->matmul_rows(out, inp, rows, n_piece_rows, bias, N, IC, OC, act);
}

// ----------------------------------------------------------------------------
// bf16

// shapes as lector_matmul_ref
void lector_matmul_bf16_ref(float *out, const float *inp, const float *weight, const float *bias,
                            int64_t N, int64_t IC, int64_t OC) {
    matmul_double(out, inp, weight, bias, N, IC, OC, true);
}

size_t lector_matmul_bf16_packed_size(int64_t IC, int64_t OC) {
    LECTOR_ASSERT(IC >= 0 && OC >= 0);
    return lector__kernels_have_bf16() ? lector__matmul_bf16_packed_size_avx512(IC, OC) : 0;
}

void lector_matmul_bf16_pack(uint16_t *packed, const float *weight, int64_t IC, int64_t OC) {
    LECTOR_ASSERT(lector__kernels_have_bf16());
    lector__matmul_bf16_pack_avx512(packed, weight, IC, OC);
}

void lector_matmul_bf16_pack_from_packed(uint16_t *packed, const float *packed_f32, int64_t IC,
                                         int64_t OC) {
    LECTOR_ASSERT(lector__kernels_have_bf16());
    lector__matmul_bf16_pack_from_f32_avx512(packed, packed_f32, IC, OC);
}

void lector_matmul_bf16_packed(float *out, const float *inp, const uint16_t *packed,
                               const float *bias, int64_t N, int64_t IC, int64_t OC,
                               enum lector__act act) {
    LECTOR_ASSERT(lector__kernels_have_bf16());
    lector__matmul_bf16_packed_avx512(out, inp, packed, bias, N, IC, OC, act);
}

// ----------------------------------------------------------------------------
// int8 (kernels.h gives the quantisation)

void lector_matmul_int8_ref(float *out,          // (N, OC)
                            const float *inp,    // (N, IC)
                            const float *weight, // (OC, IC)
                            const float *bias,   // (OC) or NULL
                            int64_t N, int64_t IC, int64_t OC) {
    LECTOR_ASSERT(IC <= LECTOR_INT8_IC_MAX);
    int8_t *wq = lector__malloc((size_t)(IC ? IC : 1));
    uint8_t *aq = lector__malloc((size_t)(IC ? IC : 1));
    LECTOR_ASSERT(wq && aq); // test helper only
    for (int64_t o = 0; o < OC; o++) {
        float sw = lector__int8_weight_scale(weight + o * IC, IC, 1);
        int32_t wsum = 0;
        for (int64_t k = 0; k < IC; k++) {
            wq[k] = lector__int8_quantize_weight(weight[o * IC + k], sw);
            wsum += wq[k];
        }
        for (int64_t n = 0; n < N; n++) {
            const float *x = inp + n * IC;
            float lo = 0.0f, hi = 0.0f, sa, inv;
            int32_t za;
            for (int64_t k = 0; k < IC; k++) {
                lo = x[k] < lo ? x[k] : lo;
                hi = x[k] > hi ? x[k] : hi;
            }
            lector__int8_row_params(lo, hi, &sa, &inv, &za);
            int64_t s = 0;
            for (int64_t k = 0; k < IC; k++) {
                aq[k] = lector__int8_quantize_input(x[k], inv, (float)za);
                s += (int64_t)aq[k] * wq[k];
            }
            s -= (int64_t)za * wsum;
            float r = (float)s * sa * sw;
            out[n * OC + o] = bias ? r + bias[o] : r;
        }
    }
    lector_free(aq);
    lector_free(wq);
}

size_t lector__int8_packed_size(int64_t g, int64_t nr, int64_t IC, int64_t OC) {
    int64_t n_panels = (OC + nr - 1) / nr, depth = (IC + g - 1) / g * g;
    return (size_t)(n_panels * nr) * (size_t)(depth + 8); // + an int32 sum, a float scale
}

void lector__int8_pack(int8_t *packed, int64_t g, int64_t nr, const float *w, int64_t w_nr,
                       int64_t IC, int64_t OC) {
    int64_t n_panels = (OC + nr - 1) / nr, depth = (IC + g - 1) / g * g;
    memset(packed, 0, lector__int8_packed_size(g, nr, IC, OC));
    int32_t *sums = (int32_t *)(packed + n_panels * nr * depth);
    float *scales = (float *)(sums + n_panels * nr);
    for (int64_t o = 0; o < OC; o++) {
        // column o: IC values col[0], col[stride], ...
        const float *col = w_nr ? w + (o / w_nr) * IC * w_nr + o % w_nr : w + o * IC;
        int64_t stride = w_nr ? w_nr : 1;
        int8_t *dst = packed + (o / nr) * depth * nr + g * (o % nr);
        float sw = lector__int8_weight_scale(col, IC, stride);
        int32_t sum = 0;
        for (int64_t k = 0; k < IC; k++) {
            int8_t q = lector__int8_quantize_weight(col[k * stride], sw);
            dst[(k / g) * g * nr + k % g] = q;
            sum += q;
        }
        sums[o] = sum;
        scales[o] = sw;
    }
}

static void int8_quantize_worker(void *arg, int ith, int nth) {
    const struct lector__int8_job *j = arg;
    int64_t lo, hi;
    lector__split(j->N, ith, nth, &lo, &hi);
    if (lo < hi) j->quantize(j, lo, hi);
}

static void int8_panels_worker(void *arg, int ith, int nth) {
    const struct lector__int8_job *j = arg;
    int64_t lo, hi;
    lector__split(j->n_panels, ith, nth, &lo, &hi);
    if (lo < hi) j->panels(j, lo, hi);
}

void lector__int8_run(struct lector__int8_job *j, int64_t min_rows) {
    LECTOR_ASSERT(j->N >= 0 && j->IC >= 0 && j->OC >= 0 && j->IC <= LECTOR_INT8_IC_MAX);
    if (j->N == 0 || j->OC == 0) return;
    int64_t N = j->N, chunk = N;
    float *out = j->out;
    const float *inp = j->inp;
    // per row: row_bytes, then (at the end) a zero point and a scale
    unsigned char *mem = NULL;
    for (;;) {
        mem = lector__aligned_alloc((size_t)chunk * (j->row_bytes + 8) + 64);
        if (mem || chunk <= min_rows) break;
        chunk = (chunk / 2 + min_rows - 1) / min_rows * min_rows;
    }
    LECTOR_ASSERT(mem); // not even min_rows quantised rows could be allocated
    j->a = mem;
    j->zp = (int32_t *)(mem + ((size_t)chunk * j->row_bytes + 63) / 64 * 64);
    j->sa = (float *)(j->zp + chunk);
    for (int64_t r = 0; r < N; r += chunk) {
        j->N = N - r < chunk ? N - r : chunk;
        j->out = out + r * j->OC;
        j->inp = inp + r * j->IC;
        int64_t work = j->N * j->IC * j->OC;
        int n_max = work < (int64_t)1 << 18 ? 1 : j->n_panels > 64 ? 64 : (int)j->n_panels;
        lector__parallel_run(int8_quantize_worker, j, j->N * j->IC < (int64_t)1 << 16 ? 1 : 64);
        lector__parallel_run(int8_panels_worker, j, n_max);
    }
    lector__aligned_free(mem);
}

size_t lector_matmul_int8_packed_size(int64_t IC, int64_t OC) {
    LECTOR_ASSERT(IC >= 0 && OC >= 0);
    const struct lector__int8_kernels *k = lector__kernels_int8();
    return k ? lector__int8_packed_size(k->g, k->nr, IC, OC) : 0;
}

// the int8 product for this CPU; callers checked lector_matmul_int8_packed_size first
static const struct lector__int8_kernels *int8_kernels(void) {
    const struct lector__int8_kernels *k = lector__kernels_int8();
    LECTOR_ASSERT(k);
    return k;
}

void lector_matmul_int8_pack(int8_t *packed, const float *weight, int64_t IC, int64_t OC) {
    const struct lector__int8_kernels *k = int8_kernels();
    lector__int8_pack(packed, k->g, k->nr, weight, 0, IC, OC);
}

void lector_matmul_int8_pack_from_packed(int8_t *packed, const float *packed_f32, int64_t IC,
                                         int64_t OC) {
    const struct lector__int8_kernels *k = int8_kernels();
    LECTOR_ASSERT(lector__kernels_packed_nr() > 0);
    lector__int8_pack(packed, k->g, k->nr, packed_f32, lector__kernels_packed_nr(), IC, OC);
}

void lector_matmul_int8_packed(float *out, const float *inp, const int8_t *packed,
                               const float *bias, int64_t N, int64_t IC, int64_t OC,
                               enum lector__act act) {
    int8_kernels()->packed(out, inp, packed, bias, N, IC, OC, act);
}

// ----------------------------------------------------------------------------
// threads

void lector__blas_set_n_threads(int n_threads) {
    if (n_threads <= 0) n_threads = openblas_get_num_procs();
    if (n_threads <= 0) n_threads = 1;
    // One count for both: OpenBLAS runs only outside our parallel regions, so the two
    // pools never compete for the cores.
    openblas_set_num_threads(n_threads);
    lector__kernels_set_n_threads(n_threads);
}
