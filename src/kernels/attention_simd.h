/*
 * attention_simd.h: one (b, h) of masked self-attention, for attention_avx2.c and
 * attention_avx512.c, written once over simd.h. Needs D % VL == 0 (lector_attention checks
 * D % 16 == 0 before choosing it).
 *
 * Scratch (lector__attention_head_scratch_size floats), Tk = T rounded up to
 * LECTOR__ATTENTION_KEYS: the keys of the head packed transposed in blocks of KW keys, kt
 * (Tk / KW blocks of (D, KW)); a key bias row kb (Tk): 0 for a real key, -INFINITY for a
 * padded or past-the-end one; the values packed by chunks of D, vp (D, Tk); and the scores
 * of one query tile, s (QT, Tk).
 *
 * Only the keys up to the last real one, n_keys of them, are used. Queries are taken in tiles
 * of QT (or 4, so that T = 32, 128, 512 need no padded rows), in two passes over the keys:
 *   1. scores: R x NKV vector accumulators per key block (each kt load shared by the R
 *      queries, each query broadcast by the NKV key vectors), each score one chain of
 *      multiply-adds over d in order, then scaled and biased into s, with the row max;
 *   2. p = exp(s - max) in place, exactly 0 at -INFINITY scores, and its sum l per row (VL
 *      partial sums in key order, then added); then out[q] = (sum_j p[q, j] v[j]) / l, R x DV
 *      accumulators per chunk of D, each element one chain over the keys in order.
 * No output is read back or rescaled (the max is the row's, not a running one). Every
 * operation on a (query, key) pair depends only on the two rows, the key's position and
 * n_keys, not on the tile, so a padded row gives the same bits as the same row alone,
 * whatever the batch and the thread count. A head whose keys are all masked gives zeros.
 */
#ifndef LECTOR_KERNELS_ATTENTION_SIMD_H
#define LECTOR_KERNELS_ATTENTION_SIMD_H

#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels_impl.h"
#include "kernels/simd.h"

#if VL == 16
#define NKV 4 // key vectors per score tile: 6 x 4 accumulators (of 32 zmm)
#define DV 4  // vectors of D per output chunk: 6 x 4 accumulators
#else
#define NKV 2 // AVX2 has 16 ymm: 6 x 2 accumulators, 2 loaded vectors and a broadcast
#define DV 2
#endif
#define QT 6          // queries per tile (the last tiles of a head may take 4)
#define KW (NKV * VL) // keys per packed block
_Static_assert(QT <= LECTOR__ATTENTION_ROWS, "the scratch holds LECTOR__ATTENTION_ROWS rows");
_Static_assert(LECTOR__ATTENTION_KEYS % KW == 0, "packed blocks tile the padded keys");
// Full unrolling keeps the small accumulator arrays below in registers (gcc -O2 would
// otherwise leave them on the stack).
#define UNROLL _Pragma("GCC unroll 8")

// sc[i][v] = q[i] . k for the NV vectors of keys of one packed block (kt: (D, KW)), for the
// R queries of the tile.
#define DEFINE_SCORES(R, NV)                                                                \
    static inline void scores_##R##_##NV(vf sc[QT][NKV], const float *const q[QT],          \
                                         const float *kt, int64_t D) {                      \
        vf a[R][NV];                                                                        \
        UNROLL for (int i = 0; i < R; i++)                                                  \
            UNROLL for (int v = 0; v < NV; v++) a[i][v] = v_zero();                         \
        for (int64_t d = 0; d < D; d++) {                                                   \
            const float *kd = kt + d * KW;                                                  \
            vf kv[NV];                                                                      \
            UNROLL for (int v = 0; v < NV; v++) kv[v] = v_load(kd + v * VL);                \
            UNROLL for (int i = 0; i < R; i++) {                                            \
                vf qd = v_set1(q[i][d]);                                                    \
                UNROLL for (int v = 0; v < NV; v++) a[i][v] = v_fma(qd, kv[v], a[i][v]);    \
            }                                                                               \
        }                                                                                   \
        UNROLL for (int i = 0; i < R; i++)                                                  \
            UNROLL for (int v = 0; v < NV; v++) sc[i][v] = a[i][v];                         \
    }

// o[i][d0 .. d0 + NV VL) = inv[i] sum_j p[i][j] v[j][d0 ..] over the first n keys (vc: the
// packed chunk of V, (n, NV VL)), for the rows i < nq of the tile (the others are computed
// on repeated queries and not stored).
#define DEFINE_PV(R, NV)                                                                    \
    static inline void pv_##R##_##NV(float *const o[QT], int nq, const float *p, int64_t ldp, \
                                     const float inv[QT], const float *vc, int64_t n,       \
                                     int64_t d0) {                                          \
        vf a[R][NV];                                                                        \
        UNROLL for (int i = 0; i < R; i++)                                                  \
            UNROLL for (int v = 0; v < NV; v++) a[i][v] = v_zero();                         \
        for (int64_t j = 0; j < n; j++) {                                                   \
            const float *vj = vc + j * (NV * VL);                                           \
            vf x[NV];                                                                       \
            UNROLL for (int v = 0; v < NV; v++) x[v] = v_load(vj + v * VL);                 \
            UNROLL for (int i = 0; i < R; i++) {                                            \
                vf pj = v_set1(p[i * ldp + j]);                                             \
                UNROLL for (int v = 0; v < NV; v++) a[i][v] = v_fma(pj, x[v], a[i][v]);     \
            }                                                                               \
        }                                                                                   \
        UNROLL for (int i = 0; i < R; i++) {                                                \
            if (i >= nq) break;                                                             \
            vf vi = v_set1(inv[i]);                                                         \
            UNROLL for (int v = 0; v < NV; v++)                                             \
                v_store(o[i] + d0 + v * VL, v_mul(a[i][v], vi));                            \
        }                                                                                   \
    }

// dst[d][j] = src[j][d] for an 8 x 8 block (AVX2 instructions, which AVX-512 CPUs have too)
static inline void transpose_8x8(float *dst, int64_t ldd, const float *src, int64_t lds) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);     // a0 b0 a1 b1 | a4 b4 a5 b5
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); // a2 b2 a3 b3 | a6 b6 a7 b7
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);     // a0 b0 c0 d0 | a4 ..
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee); // a1 b1 c1 d1 | a5 ..
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

// Both passes for a tile of R queries (q, o: R rows; rows past nq repeat a query).
struct head_args {
    const float *kt, *kb, *vp;
    float *s;
    int64_t D, Tk, n_keys, n_vec;
    float scale;
};

#if NKV == 4
#define SCORES_SWITCH(R)                                                                    \
    switch (nv) {                                                                           \
    case 1: scores_##R##_1(sc, q, kblk, a->D); break;                                       \
    case 2: scores_##R##_2(sc, q, kblk, a->D); break;                                       \
    case 3: scores_##R##_3(sc, q, kblk, a->D); break;                                       \
    default: scores_##R##_4(sc, q, kblk, a->D); break;                                      \
    }
#define DEFINE_SCORES_R(R) DEFINE_SCORES(R, 1) DEFINE_SCORES(R, 2) DEFINE_SCORES(R, 3) DEFINE_SCORES(R, 4)
#else
#define SCORES_SWITCH(R)                                                                    \
    if (nv == 1) scores_##R##_1(sc, q, kblk, a->D);                                         \
    else scores_##R##_2(sc, q, kblk, a->D);
#define DEFINE_SCORES_R(R) DEFINE_SCORES(R, 1) DEFINE_SCORES(R, 2)
#endif

#define DEFINE_TILE(R)                                                                      \
    DEFINE_SCORES_R(R)                                                                      \
    DEFINE_PV(R, DV)                                                                        \
    DEFINE_PV(R, 1)                                                                         \
    static void tile_##R(const struct head_args *a, const float *const q[QT],               \
                         float *const o[QT], int nq) {                                      \
        vf vscale = v_set1(a->scale), lowest = v_set1(-FLT_MAX), vmax[R];                   \
        for (int i = 0; i < R; i++) vmax[i] = v_set1(-INFINITY);                            \
        for (int64_t v0 = 0; v0 < a->n_vec; v0 += NKV) {                                    \
            int nv = a->n_vec - v0 < NKV ? (int)(a->n_vec - v0) : NKV;                      \
            const float *kblk = a->kt + v0 / NKV * a->D * KW;                               \
            vf sc[QT][NKV];                                                                 \
            SCORES_SWITCH(R)                                                                \
            for (int i = 0; i < R; i++)                                                     \
                for (int v = 0; v < nv; v++) {                                              \
                    int64_t j = (v0 + v) * VL;                                              \
                    vf x = v_fma(sc[i][v], vscale, v_load(a->kb + j));                      \
                    v_store(a->s + i * a->Tk + j, x);                                       \
                    vmax[i] = v_max(vmax[i], x);                                            \
                }                                                                           \
        }                                                                                   \
        float inv[QT];                                                                      \
        for (int i = 0; i < R; i++) {                                                       \
            float *si = a->s + i * a->Tk;                                                   \
            vf vm = v_set1(v_hmax(vmax[i])), sum = v_zero();                                \
            for (int64_t j = 0; j < a->n_vec * VL; j += VL) {                               \
                vf x = v_load(si + j);                                                      \
                vf e = v_zero_where_lt(v_exp(v_sub(x, vm)), x, lowest); /* 0 if masked */   \
                v_store(si + j, e);                                                         \
                sum = v_add(sum, e);                                                        \
            }                                                                               \
            inv[i] = 1.0f / v_hsum(sum); /* sum >= 1: the max key gives exp(0) */           \
        }                                                                                   \
        int64_t d = 0;                                                                      \
        for (; d + DV * VL <= a->D; d += DV * VL)                                           \
            pv_##R##_##DV(o, nq, a->s, a->Tk, inv, a->vp + d * a->Tk, a->n_keys, d);        \
        for (; d < a->D; d += VL)                                                           \
            pv_##R##_1(o, nq, a->s, a->Tk, inv, a->vp + d * a->Tk, a->n_keys, d);           \
    }
DEFINE_TILE(6)
DEFINE_TILE(4)
_Static_assert(QT == 6, "tile_6 is the full tile");

void SIMD_SUFFIX(lector__attention_head)(float *out,          // (B, T, C)
                                         const float *qkv,    // (B, T, 3C)
                                         const int32_t *mask, // (B, T) or NULL
                                         float *kt, // lector__attention_head_scratch_size
                                         int64_t b, int64_t h, int64_t T, int64_t C,
                                         int64_t H) {
    int64_t D = C / H;
    int64_t Tk = (T + LECTOR__ATTENTION_KEYS - 1) / LECTOR__ATTENTION_KEYS * LECTOR__ATTENTION_KEYS;
    float *kb = kt + D * Tk, *vp = kb + Tk, *s = vp + D * Tk;
    const float *base = qkv + b * T * 3 * C;
    const int32_t *mrow = mask ? mask + b * T : NULL;

    // the keys up to the last real one
    int64_t n_keys = T;
    while (n_keys > 0 && mrow && mrow[n_keys - 1] == 0) n_keys--;
    if (n_keys == 0) { // every key masked: zeros
        for (int64_t t = 0; t < T; t++) memset(out + (b * T + t) * C + h * D, 0, (size_t)D * sizeof *out);
        return;
    }
    int64_t n_vec = (n_keys + VL - 1) / VL; // key vectors scored

    // pack K^T by blocks of KW keys (8 x 8 transposes, then single keys), and the key bias
    const float *kbase = base + C + h * D;
    int64_t t2 = 0;
    for (; t2 + 8 <= n_keys; t2 += 8)
        for (int64_t d = 0; d < D; d += 8)
            transpose_8x8(kt + t2 / KW * D * KW + d * KW + t2 % KW, KW, kbase + t2 * 3 * C + d,
                          3 * C);
    for (; t2 < n_vec * VL; t2++) {
        float *kd = kt + t2 / KW * D * KW + t2 % KW;
        const float *k = kbase + t2 * 3 * C;
        for (int64_t d = 0; d < D; d++) kd[d * KW] = t2 < n_keys ? k[d] : 0.0f;
    }
    for (int64_t j = 0; j < n_vec * VL; j++)
        kb[j] = j < n_keys && (!mrow || mrow[j] != 0) ? 0.0f : -INFINITY;
    // pack V by chunks of D (the widths pv takes): the chunk at d0, w wide, is (n_keys, w)
    // at vp + d0 Tk
    for (int64_t d0 = 0; d0 < D;) {
        int64_t w = D - d0 >= DV * VL ? DV * VL : VL;
        float *vc = vp + d0 * Tk;
        const float *vsrc = base + 2 * C + h * D + d0;
        for (int64_t j = 0; j < n_keys; j++)
            for (int64_t e = 0; e < w; e += VL) v_store(vc + j * w + e, v_load(vsrc + j * 3 * C + e));
        d0 += w;
    }

    struct head_args a = {kt, kb, vp, s, D, Tk, n_keys, n_vec, 1.0f / sqrtf((float)D)};
    for (int64_t t0 = 0; t0 < T;) {
        int64_t rest = T - t0;
        int r = rest <= 4 || rest == 8 ? 4 : QT; // 6s, then 4s: T = 32, 128, 512 come out even
        int nq = rest < r ? (int)rest : r;
        const float *q[QT];
        float *o[QT];
        for (int i = 0; i < QT; i++) {
            // rows past T repeat the last query; they are computed and never stored
            int64_t t = t0 + (i < nq ? i : nq - 1);
            q[i] = base + t * 3 * C + h * D;
            o[i] = out + (b * T + t) * C + h * D;
        }
        if (r == QT) tile_6(&a, q, o, nq);
        else tile_4(&a, q, o, nq);
        t0 += nq;
    }
}

#endif /* LECTOR_KERNELS_ATTENTION_SIMD_H */
