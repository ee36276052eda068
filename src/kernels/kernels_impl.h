/*
 * kernels_impl.h: what the kernel files share among themselves (not for callers outside
 * src/kernels and the kernel tests): the dispatch table, the SIMD variants it points to,
 * and the small thread pool our own parallel kernels run on.
 *
 * Dispatch: lector__kernels() fills a table once (pthread_once) from cpuid: AVX-512
 * (F+BW+VL) variants if the CPU and OS support them, else AVX2+FMA variants, else the
 * references. LECTOR_KERNELS=ref in the environment forces the references (and cblas_sgemm
 * for matmul); LECTOR_KERNELS=avx2 caps the choice at AVX2. The table is immutable after
 * that first call and safe to read from any thread.
 *
 * Threads: lector__parallel_run(fn, arg, n_max) runs fn(arg, ith, nth) once for each ith =
 * 0..nth-1, each on whichever thread claims it first (the caller or a worker), with nth at
 * most the count set by lector__kernels_set_n_threads. Only one region runs at a time: a region started while another is running (from another thread,
 * or nested) runs with nth = 1 on its caller. Every kernel splits its work by (ith, nth)
 * into fixed pieces computed the same way whatever nth is, so results do not depend on
 * the thread count. OpenBLAS is never called from inside a region.
 */
#ifndef LECTOR_KERNELS_IMPL_H
#define LECTOR_KERNELS_IMPL_H

#include "kernels/kernels.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// ----------------------------------------------------------------------------
// dispatch table

struct lector__kernel_table {
    const char *name; // "ref", "avx2" or "avx512"
    // out (N, OC) = inp (N, IC) weight (OC, IC)^T + bias; NULL: use cblas_sgemm (ref only)
    void (*matmul)(float *out, const float *inp, const float *weight, const float *bias,
                   int64_t N, int64_t IC, int64_t OC);
    // one (b, h) of lector_attention, with kt lector__attention_head_scratch_size floats
    void (*attention_head)(float *out, const float *qkv, const int32_t *mask, float *kt,
                           int64_t b, int64_t h, int64_t T, int64_t C, int64_t H);
    // NULL: no packed path (lector_matmul_packed_size returns 0)
    void (*matmul_packed)(float *out, const float *inp, const float *packed, const float *bias,
                          int64_t N, int64_t IC, int64_t OC, enum lector__act act);
    size_t (*matmul_packed_size)(int64_t IC, int64_t OC);
    // lector_matmul_rows; NULL: none (callers pack the weight first)
    bool (*matmul_rows)(float *out, const float *inp, const float *const *rows,
                        int64_t n_piece_rows, const float *bias, int64_t N, int64_t IC,
                        int64_t OC, enum lector__act act);
    void (*matmul_pack_rows)(float *packed, const float *rows, int64_t IC, int64_t OC,
                             int64_t o0, int64_t n);
    void (*bias_gelu)(float *x, const float *bias, int64_t N, int64_t C);
    void (*bias_relu)(float *x, const float *bias, int64_t N, int64_t C);
    void (*bias_gelu_new)(float *x, const float *bias, int64_t N, int64_t C);
    void (*residual_layernorm)(float *out, const float *x, const float *bias, const float *res,
                               const float *gamma, const float *beta, int64_t N, int64_t C,
                               float eps);
};

/* The table for this CPU (and $LECTOR_KERNELS), filled on first use. Never NULL. */
const struct lector__kernel_table *lector__kernels(void);

// ----------------------------------------------------------------------------
// variants (same contracts as the public entry points in kernels.h)

// The attention heads' scratch (attention_simd.h): packed keys in blocks dividing
// LECTOR__ATTENTION_KEYS, and the scores of up to LECTOR__ATTENTION_ROWS queries.
#define LECTOR__ATTENTION_KEYS 64
#define LECTOR__ATTENTION_ROWS 8
size_t lector__attention_head_scratch_size(int64_t T, int64_t C, int64_t H); // floats
void lector__attention_head_avx2(float *out, const float *qkv, const int32_t *mask, float *kt,
                                 int64_t b, int64_t h, int64_t T, int64_t C, int64_t H);
void lector__attention_head_avx512(float *out, const float *qkv, const int32_t *mask,
                                   float *kt, int64_t b, int64_t h, int64_t T, int64_t C,
                                   int64_t H);
void lector__bias_gelu_avx2(float *x, const float *bias, int64_t N, int64_t C);
void lector__bias_gelu_avx512(float *x, const float *bias, int64_t N, int64_t C);
void lector__bias_gelu_new_avx2(float *x, const float *bias, int64_t N, int64_t C);
void lector__bias_gelu_new_avx512(float *x, const float *bias, int64_t N, int64_t C);
void lector__bias_relu_avx2(float *x, const float *bias, int64_t N, int64_t C);
void lector__bias_relu_avx512(float *x, const float *bias, int64_t N, int64_t C);
void lector__bias_relu_ref(float *x, const float *bias, int64_t N, int64_t C);
void lector__residual_layernorm_avx2(float *out, const float *x, const float *bias,
                                     const float *res, const float *gamma, const float *beta,
                                     int64_t N, int64_t C, float eps);
void lector__residual_layernorm_avx512(float *out, const float *x, const float *bias,
                                       const float *res, const float *gamma,
                                       const float *beta, int64_t N, int64_t C, float eps);
/* The fp32 sgemms' shared part (gemm_panels.c): weights packed in panels of nr columns,
 * each k-major over the whole depth (panel p is (IC, nr), element [k][j] = weight[nr p +
 * j][k], columns past OC zero), and a driver that splits the panels over the pool, each
 * thread calling the variant's core on its range: the thread count decides only which
 * thread computes which panel. */
struct lector__gemm_core {
    int64_t nr; // panel width
    // out[:, nr p0 .. min(nr p1, OC)) = act(inp packed[p0, p1)^T + bias), single-threaded,
    // with packed pointing at panel p0 (the panels [p0, p1) one after the other);
    // accumulate: out[:, those columns] += inp packed^T instead (bias NULL, act NONE)
    void (*panels)(float *out, const float *inp, const float *packed, const float *bias,
                   int64_t N, int64_t IC, int64_t OC, int64_t p0, int64_t p1,
                   enum lector__act act, int accumulate);
};
size_t lector__gemm_packed_size(int64_t nr, int64_t IC, int64_t OC);
void lector__gemm_pack_rows(int64_t nr, float *packed, const float *rows, int64_t IC,
                            int64_t OC, int64_t o0, int64_t n);
void lector__gemm_packed(const struct lector__gemm_core *core, float *out, const float *inp,
                         const float *packed, const float *bias, int64_t N, int64_t IC,
                         int64_t OC, enum lector__act act);
/* From the plain weight: each thread packs its panels into a temporary first. */
void lector__gemm_unpacked(const struct lector__gemm_core *core, float *out, const float *inp,
                           const float *weight, const float *bias, int64_t N, int64_t IC,
                           int64_t OC);
/* The packed product from the plain weight, given as pieces of rows (lector_matmul_rows):
 * each thread packs one of its panels at a time into its own small buffer and runs the
 * core on it, so the same tiles see the same panel values in the same order as
 * lector__gemm_packed's (the same bits), and no packed copy of the whole weight is
 * written. false (out untouched) when the buffers cannot be allocated. */
bool lector__gemm_rows(const struct lector__gemm_core *core, float *out, const float *inp,
                       const float *const *rows, int64_t n_piece_rows, const float *bias,
                       int64_t N, int64_t IC, int64_t OC, enum lector__act act);
/* out (N, OC) += inp (N, K) b (K, OC), b row-major with rows ldb apart (b[k][o] at
 * b[k ldb + o]): the training products (kernels/backward.c), whose right operand is already
 * k-major, so each thread's panels are a plain copy of b into a temporary. The same
 * operations whatever the thread count. false (out untouched) when the temporary cannot be
 * allocated. */
bool lector__gemm_acc_kmajor(const struct lector__gemm_core *core, float *out, const float *inp,
                             const float *b, int64_t ldb, int64_t N, int64_t K, int64_t OC);
/* Single-threaded over output columns [o0, o1) (o0 a multiple of nr, o1 too or OC); the
 * tests check that the column split does not change any value. */
void lector__gemm_cols(const struct lector__gemm_core *core, float *out, const float *inp,
                       const float *weight, const float *bias, int64_t N, int64_t IC, int64_t OC,
                       int64_t o0, int64_t o1);
/* The cores (gemm_avx512.c, gemm_avx2.c: 64- and 16-column panels). */
extern const struct lector__gemm_core lector__gemm_core_avx512, lector__gemm_core_avx2;
/* Our sgemms as the dispatch table calls them: the driver above with each core
 * (gemm_panels.c defines them). */
#define LECTOR__GEMM_DECLARE(isa)                                                            \
    void lector__matmul_##isa(float *out, const float *inp, const float *weight,             \
                              const float *bias, int64_t N, int64_t IC, int64_t OC);         \
    size_t lector__matmul_packed_size_##isa(int64_t IC, int64_t OC);                         \
    void lector__matmul_pack_rows_##isa(float *packed, const float *rows, int64_t IC,        \
                                        int64_t OC, int64_t o0, int64_t n);                  \
    bool lector__matmul_rows_##isa(float *out, const float *inp, const float *const *rows,   \
                                   int64_t n_piece_rows, const float *bias, int64_t N,       \
                                   int64_t IC, int64_t OC, enum lector__act act);            \
    void lector__matmul_packed_##isa(float *out, const float *inp, const float *packed,      \
                                     const float *bias, int64_t N, int64_t IC, int64_t OC,   \
                                     enum lector__act act);

LECTOR__GEMM_DECLARE(avx2)
LECTOR__GEMM_DECLARE(avx512)

/* The blocking every AVX-512 product variant shares (gemm_avx512.c's header comment):
 * rows in blocks (mc_max rows when set, else at most 384 and fewer when the range has many
 * panels), depth in blocks of kc_max, each 64-column panel of [p0, p1), 6-row tiles; for
 * each, in that order,
 * tile(t, r0, m, p, pc, kc, first, last): rows [r0, r0 + m), panel p, depth [pc, pc + kc),
 * first/last depth block. With depth 0, out[:, panels] = act(bias) (or act(0)) instead. */
struct lector__gemm_tiles {
    float *out;        // (N, OC)
    const float *bias; // (OC) or NULL
    int64_t N, OC, depth, kc_max;
    int64_t mc_max; // 0: sized so the block of out stays in L2 (fp32 partial sums)
    enum lector__act act;
    void (*tile)(const struct lector__gemm_tiles *t, int64_t r0, int m, int64_t p, int64_t pc,
                 int64_t kc, int first, int last);
    const void *ctx; // the variant's operands
    int accumulate;  // out += the product (no depth block is the first; bias NULL)
};
void lector__gemm_tiles_run_avx512(const struct lector__gemm_tiles *t, int64_t p0, int64_t p1);

/* The bf16 product (gemm_bf16_avx512.c's header comment gives the layout); only where
 * lector__kernels_have_bf16(). */
size_t lector__matmul_bf16_packed_size_avx512(int64_t IC, int64_t OC);
void lector__matmul_bf16_pack_avx512(uint16_t *packed, const float *weight, int64_t IC,
                                     int64_t OC);
void lector__matmul_bf16_pack_from_f32_avx512(uint16_t *packed, const float *packed_f32,
                                              int64_t IC, int64_t OC);
void lector__matmul_bf16_packed_avx512(float *out, const float *inp, const uint16_t *packed,
                                       const float *bias, int64_t N, int64_t IC, int64_t OC,
                                       enum lector__act act);
/* Whether the chosen table is the AVX-512 one and the CPU has AVX-512 BF16. */
bool lector__kernels_have_bf16(void);

/* The int8 products (kernels.h gives the quantisation; each variant's header comment its
 * layout): gemm_int8_avx512.c (AVX-512 VNNI, vpdpbusd) and gemm_int8_avx2.c (AVX2,
 * vpmaddwd on the uint8 and int8 values widened to int16). Both give
 * lector_matmul_int8_ref's bits. */
struct lector__int8_kernels {
    const char *name; // "avx512_vnni" or "avx2"
    int64_t g, nr;    // the packing (lector__int8_pack): k in groups of g, nr-column panels
    void (*packed)(float *out, const float *inp, const int8_t *packed, const float *bias,
                   int64_t N, int64_t IC, int64_t OC, enum lector__act act);
};
extern const struct lector__int8_kernels lector__int8_avx512, lector__int8_avx2;
/* The int8 product for this CPU and $LECTOR_KERNELS: the VNNI one where the chosen table
 * is the AVX-512 one and the CPU has AVX-512 VNNI, else the AVX2 one where the chosen
 * table is not the references; NULL otherwise. */
const struct lector__int8_kernels *lector__kernels_int8(void);
/* Width of the chosen table's fp32 panels (lector_matmul_pack_rows); 0 for the references. */
int64_t lector__kernels_packed_nr(void);

/* The int8 variants' shared driver (gemm.c): quantise inp's rows into a (row_bytes per
 * row) copy with each row's zero point and scale, rows split over the pool, then the
 * products, panels split over the pool; in chunks of rows (a multiple of min_rows) when the
 * whole copy cannot be allocated. Every row is computed the same way, so the chunking and
 * the thread count change no value. */
struct lector__int8_job {
    float *out;        // (N, OC): this chunk's rows
    const float *inp;  // (N, IC)
    unsigned char *a;  // (N) quantised rows, row_bytes apart
    int32_t *zp;       // (N) their zero points
    float *sa;         // (N) their scales
    size_t row_bytes;
    const int8_t *packed;
    const float *bias; // (OC) or NULL
    int64_t N, IC, OC, n_panels;
    enum lector__act act;
    // the variant's steps: quantise rows [r0, r1); out[:, panels [p0, p1)) of every row
    void (*quantize)(const struct lector__int8_job *j, int64_t r0, int64_t r1);
    void (*panels)(const struct lector__int8_job *j, int64_t p0, int64_t p1);
};
void lector__int8_run(struct lector__int8_job *j, int64_t min_rows);

/* The int8 variants' packing (gemm.c): panels of nr columns over groups of g k (panel p
 * is (ceil(IC / g), nr, g) int8, element [q][j][e] = wq[nr p + j][g q + e], zero past OC
 * or IC), then the column sums of wq (n_panels x nr int32), then the column scales
 * (n_panels x nr float). From the plain weight (OC, IC) when w_nr is 0, else from fp32
 * panels of w_nr columns, k-major (lector__gemm_pack_rows's layout). */
size_t lector__int8_packed_size(int64_t g, int64_t nr, int64_t IC, int64_t OC);
void lector__int8_pack(int8_t *packed, int64_t g, int64_t nr, const float *w, int64_t w_nr,
                       int64_t IC, int64_t OC);

/* Whether the CPU can run the avx2 / avx512 variants (for tests). */
bool lector__kernels_have_avx2(void);
bool lector__kernels_have_avx512(void);

// ----------------------------------------------------------------------------
// threads

/* Threads our own parallel kernels use (<= 0: one per online CPU). Process-wide. */
void lector__kernels_set_n_threads(int n_threads);
int lector__kernels_n_threads(void);
/* Run fn(arg, ith, nth) for ith = 0..nth-1, nth <= min(n_max, lector__kernels_n_threads());
 * returns when all are done. */
void lector__parallel_run(void (*fn)(void *arg, int ith, int nth), void *arg, int n_max);

/* [lo, hi) of n items for part ith of nth: contiguous, in order, sizes differing by <= 1. */
static inline void lector__split(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    *lo = n * ith / nth;
    *hi = n * (ith + 1) / nth;
}

#endif /* LECTOR_KERNELS_IMPL_H */
