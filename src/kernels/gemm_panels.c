// What our fp32 sgemms (gemm_avx512.c, gemm_avx2.c) share: the panel packing of weights
// and the threaded driver that splits the panels over the pool. Only the panel width and
// the single-threaded core over a range of panels differ between them. Compiled without
// any -m flag: nothing here is vector code.
#include "kernels/kernels_impl.h"

#include <string.h>

#include "base/base_impl.h"

size_t lector__gemm_packed_size(int64_t nr, int64_t IC, int64_t OC) {
    return (size_t)((OC + nr - 1) / nr) * (size_t)IC * (size_t)nr;
}

// Where the rows of a weight (OC, IC) are: rows [o0, o0 + n) in pieces of n_piece_rows rows
// each (the last may be shorter), piece i at piece[i], rows IC floats apart.
struct row_src {
    const float *const *piece;
    int64_t n_piece_rows, o0;
};

// Panels [p0, p1) of packed (ceil(OC / nr), IC, nr), written from dst on (panel p0 at
// dst), <- rows [o0, o1) of a weight (OC, IC) as src holds them; o0 is a multiple of nr,
// and the panels' columns past o1 are written as 0 (padding when o1 is OC, else the next
// piece's columns, written after).
static void pack_panels(int64_t nr, float *restrict dst, const struct row_src *src,
                        int64_t IC, int64_t o1, int64_t p0, int64_t p1) {
    const float *row[64]; // nr <= 64
    LECTOR_ASSERT(nr <= 64);
    for (int64_t p = p0; p < p1; p++, dst += IC * nr) {
        int64_t ncol = o1 - p * nr < nr ? o1 - p * nr : nr;
        for (int64_t j = 0; j < ncol; j++) {
            int64_t r = p * nr + j - src->o0;
            row[j] = src->piece[r / src->n_piece_rows] + (r % src->n_piece_rows) * IC;
        }
        // 16 k at a time: 64 B read per weight row, writes within a few KB
        for (int64_t k0 = 0; k0 < IC; k0 += 16) {
            int64_t nk = IC - k0 < 16 ? IC - k0 : 16;
            for (int64_t j = 0; j < nr; j++) {
                if (j >= ncol) {
                    for (int64_t k = 0; k < nk; k++) dst[(k0 + k) * nr + j] = 0.0f;
                    continue;
                }
                const float *s = row[j] + k0;
                // each thread reads nr rows at once, more streams than the hardware
                // prefetchers follow: ask for each row's line 8 lines ahead
                if (k0 + 128 < IC) __builtin_prefetch(s + 128);
                for (int64_t k = 0; k < nk; k++) dst[(k0 + k) * nr + j] = s[k];
            }
        }
    }
}

// src for rows [o0, o0 + n) given as one block of rows
static struct row_src one_piece(const float *const *rows, int64_t o0, int64_t n) {
    return (struct row_src){rows, n > 0 ? n : 1, o0};
}

struct pack_job {
    int64_t nr, IC, o0, o1;
    float *packed;
    const float *rows;
};

static void pack_worker(void *arg, int ith, int nth) {
    const struct pack_job *j = arg;
    int64_t p0 = j->o0 / j->nr, n = (j->o1 + j->nr - 1) / j->nr - p0, lo, hi;
    lector__split(n, ith, nth, &lo, &hi);
    struct row_src src = one_piece(&j->rows, j->o0, j->o1 - j->o0);
    pack_panels(j->nr, j->packed + (p0 + lo) * j->IC * j->nr, &src, j->IC, j->o1, p0 + lo,
                p0 + hi);
}

void lector__gemm_pack_rows(int64_t nr, float *packed, const float *rows, int64_t IC,
                            int64_t OC, int64_t o0, int64_t n) {
    LECTOR_ASSERT(o0 >= 0 && n >= 0 && o0 + n <= OC);
    if (o0 % nr == 0 && (n % nr == 0 || o0 + n == OC)) {
        // whole panels (the usual case: every matrix, and QKV's pieces when C is a
        // multiple of nr): copies split over the threads by panel, padding written as 0
        struct pack_job j = {nr, IC, o0, o0 + n, packed, rows};
        int64_t n_panels = (n + nr - 1) / nr;
        int n_max = n * IC < (int64_t)1 << 16 ? 1 : n_panels > 64 ? 64 : (int)n_panels;
        lector__parallel_run(pack_worker, &j, n_max);
        return;
    }
    for (int64_t r = 0; r < n; r++) {
        int64_t o = o0 + r;
        float *dst = packed + (o / nr) * IC * nr + o % nr;
        const float *src = rows + r * IC;
        for (int64_t k = 0; k < IC; k++) dst[k * nr] = src[k];
    }
}

// Panels [p0, p1) of packed (ceil(OC / nr), K, nr) <- b (K, OC), rows ldb apart
static void pack_kmajor(int64_t nr, float *restrict packed, const float *restrict b,
                        int64_t ldb, int64_t K, int64_t OC, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
        float *dst = packed + p * K * nr;
        int64_t ncol = OC - p * nr < nr ? OC - p * nr : nr;
        for (int64_t k = 0; k < K; k++) {
            memcpy(dst + k * nr, b + k * ldb + p * nr, (size_t)ncol * sizeof *dst);
            if (ncol < nr) memset(dst + k * nr + ncol, 0, (size_t)(nr - ncol) * sizeof *dst);
        }
    }
}

struct gemm_job {
    const struct lector__gemm_core *core;
    float *out;
    const float *inp, *packed, *bias;
    const float *weight; // non-NULL: pack each thread's panels from it into pack_dst first
    const float *kmajor; // non-NULL: the same from a k-major operand (ldb apart)
    float *pack_dst;     // then the same buffer as packed
    int64_t N, IC, OC, ldb;
    enum lector__act act;
    int accumulate;
};

static void gemm_worker(void *arg, int ith, int nth) {
    const struct gemm_job *j = arg;
    int64_t nr = j->core->nr, n_panels = (j->OC + nr - 1) / nr, lo, hi;
    lector__split(n_panels, ith, nth, &lo, &hi);
    if (lo == hi) return;
    int64_t at = lo * j->IC * nr; // panel lo
    if (j->weight) {
        struct row_src src = one_piece(&j->weight, 0, j->OC);
        pack_panels(nr, j->pack_dst + at, &src, j->IC, j->OC, lo, hi);
    }
    if (j->kmajor) pack_kmajor(nr, j->pack_dst, j->kmajor, j->ldb, j->IC, j->OC, lo, hi);
    j->core->panels(j->out, j->inp, j->packed + at, j->bias, j->N, j->IC, j->OC, lo, hi,
                    j->act, j->accumulate);
}

static void run(struct gemm_job *j) {
    int64_t n_panels = (j->OC + j->core->nr - 1) / j->core->nr;
    // a product too small to pay for waking a thread runs on the caller
    int64_t work = j->N * j->IC * j->OC;
    int n_max = work < (int64_t)1 << 18 ? 1 : n_panels > 64 ? 64 : (int)n_panels;
    lector__parallel_run(gemm_worker, j, n_max);
}

void lector__gemm_packed(const struct lector__gemm_core *core, float *out, const float *inp,
                         const float *packed, const float *bias, int64_t N, int64_t IC,
                         int64_t OC, enum lector__act act) {
    LECTOR_ASSERT(N >= 0 && IC >= 0 && OC >= 0);
    if (N == 0 || OC == 0) return;
    struct gemm_job j = {core, out, inp, packed, bias, NULL, NULL, NULL, N, IC, OC, 0, act, 0};
    run(&j);
}

void lector__gemm_unpacked(const struct lector__gemm_core *core, float *out, const float *inp,
                           const float *weight, const float *bias, int64_t N, int64_t IC,
                           int64_t OC) {
    LECTOR_ASSERT(N >= 0 && IC >= 0 && OC >= 0);
    if (N == 0 || OC == 0) return;
    size_t n_packed = lector__gemm_packed_size(core->nr, IC, OC);
    float *packed = lector__aligned_alloc((n_packed ? n_packed : 1) * sizeof(float));
    if (!packed) { // no memory for the panels: the slow reference still gives the answer
        lector_matmul_ref(out, inp, weight, bias, N, IC, OC);
        return;
    }
    struct gemm_job j = {core, out,    inp, packed, bias, weight, NULL,
                         packed, N, IC, OC, 0, LECTOR__ACT_NONE, 0};
    run(&j);
    lector__aligned_free(packed);
}

bool lector__gemm_acc_kmajor(const struct lector__gemm_core *core, float *out, const float *inp,
                             const float *b, int64_t ldb, int64_t N, int64_t K, int64_t OC) {
    LECTOR_ASSERT(N >= 0 && K >= 0 && OC >= 0 && ldb >= OC);
    if (N == 0 || OC == 0 || K == 0) return true;
    size_t n_packed = lector__gemm_packed_size(core->nr, K, OC);
    float *packed = lector__aligned_alloc(n_packed * sizeof(float));
    if (!packed) return false;
    struct gemm_job j = {core, out, inp, packed, NULL, NULL, b, packed, N, K, OC, ldb,
                         LECTOR__ACT_NONE, 1};
    run(&j);
    lector__aligned_free(packed);
    return true;
}

// The first-use product: each thread packs one of its panels at a time into its own
// buffer (IC x nr floats, in L2) and runs the core on that panel alone.
struct rows_job {
    const struct lector__gemm_core *core;
    float *out, *buf; // buf: one panel per thread
    const float *inp, *bias;
    struct row_src src;
    int64_t N, IC, OC;
    enum lector__act act;
};

static void rows_worker(void *arg, int ith, int nth) {
    const struct rows_job *j = arg;
    int64_t nr = j->core->nr, n_panels = (j->OC + nr - 1) / nr, lo, hi;
    lector__split(n_panels, ith, nth, &lo, &hi);
    float *buf = j->buf + ith * j->IC * nr;
    for (int64_t p = lo; p < hi; p++) {
        pack_panels(nr, buf, &j->src, j->IC, j->OC, p, p + 1);
        j->core->panels(j->out, j->inp, buf, j->bias, j->N, j->IC, j->OC, p, p + 1, j->act, 0);
    }
}

bool lector__gemm_rows(const struct lector__gemm_core *core, float *out, const float *inp,
                       const float *const *rows, int64_t n_piece_rows, const float *bias,
                       int64_t N, int64_t IC, int64_t OC, enum lector__act act) {
    LECTOR_ASSERT(N >= 0 && IC >= 0 && OC >= 0 && n_piece_rows > 0);
    if (N == 0 || OC == 0) return true;
    int64_t nr = core->nr, n_panels = (OC + nr - 1) / nr;
    // the thread counts of lector__gemm_packed (run): the same split of the panels
    int64_t work = N * IC * OC;
    int n_max = work < (int64_t)1 << 18 ? 1 : n_panels > 64 ? 64 : (int)n_panels;
    int n_threads = lector__kernels_n_threads();
    n_max = n_max < n_threads ? n_max : n_threads;
    size_t n_buf = (size_t)n_max * (size_t)(IC * nr);
    float *buf = lector__aligned_alloc((n_buf ? n_buf : 1) * sizeof(float));
    if (!buf) return false;
    struct rows_job j = {core, out, buf, inp, bias, {rows, n_piece_rows, 0}, N, IC, OC, act};
    lector__parallel_run(rows_worker, &j, n_max);
    lector__aligned_free(buf);
    return true;
}

void lector__gemm_cols(const struct lector__gemm_core *core, float *out, const float *inp,
                       const float *weight, const float *bias, int64_t N, int64_t IC, int64_t OC,
                       int64_t o0, int64_t o1) {
    int64_t nr = core->nr;
    LECTOR_ASSERT(o0 % nr == 0 && o0 <= o1 && o1 <= OC && (o1 % nr == 0 || o1 == OC));
    size_t n_packed = lector__gemm_packed_size(nr, IC, OC);
    float *packed = lector__aligned_alloc((n_packed ? n_packed : 1) * sizeof(float));
    LECTOR_ASSERT(packed); // test helper only
    int64_t p0 = o0 / nr, p1 = (o1 + nr - 1) / nr;
    struct row_src src = one_piece(&weight, 0, OC);
    pack_panels(nr, packed + p0 * IC * nr, &src, IC, OC, p0, p1);
    core->panels(out, inp, packed + p0 * IC * nr, bias, N, IC, OC, p0, p1, LECTOR__ACT_NONE,
                 0);
    lector__aligned_free(packed);
}

// The dispatch table's entry points for each core
#define DEFINE_GEMM_ENTRIES(isa)                                                           \
    void lector__matmul_##isa(float *out, const float *inp, const float *weight,           \
                              const float *bias, int64_t N, int64_t IC, int64_t OC) {      \
        lector__gemm_unpacked(&lector__gemm_core_##isa, out, inp, weight, bias, N, IC, OC);\
    }                                                                                      \
    size_t lector__matmul_packed_size_##isa(int64_t IC, int64_t OC) {                      \
        return lector__gemm_packed_size(lector__gemm_core_##isa.nr, IC, OC);               \
    }                                                                                      \
    void lector__matmul_pack_rows_##isa(float *packed, const float *rows, int64_t IC,      \
                                        int64_t OC, int64_t o0, int64_t n) {               \
        lector__gemm_pack_rows(lector__gemm_core_##isa.nr, packed, rows, IC, OC, o0, n);   \
    }                                                                                      \
    bool lector__matmul_rows_##isa(float *out, const float *inp, const float *const *rows, \
                                   int64_t n_piece_rows, const float *bias, int64_t N,     \
                                   int64_t IC, int64_t OC, enum lector__act act) {         \
        return lector__gemm_rows(&lector__gemm_core_##isa, out, inp, rows, n_piece_rows,   \
                                 bias, N, IC, OC, act);                                    \
    }                                                                                      \
    void lector__matmul_packed_##isa(float *out, const float *inp, const float *packed,    \
                                     const float *bias, int64_t N, int64_t IC, int64_t OC, \
                                     enum lector__act act) {                               \
        lector__gemm_packed(&lector__gemm_core_##isa, out, inp, packed, bias, N, IC, OC,   \
                            act);                                                          \
    }

DEFINE_GEMM_ENTRIES(avx2)
DEFINE_GEMM_ENTRIES(avx512)
