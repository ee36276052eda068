/*
 * attention_simd.h: one (b, h) of masked self-attention, for attention_avx2.c and
 * attention_avx512.c, written once over simd.h. Needs D % VL == 0 (lector_attention checks
 * D % 16 == 0 before choosing it).
 *
 * The keys of the head are packed transposed once into kt (D, Tp), Tp = T rounded up to
 * VL, followed by a key bias row kb (Tp): 0 for a real key, -INFINITY for a padded or
 * past-the-end one. Queries are taken QT at a time and keys KB at a time. For each key
 * block: the QT x KB scores (QT * KB / VL accumulators, each kt load shared by the QT
 * queries), scaled and biased; per query the block max, the online-softmax rescale of the
 * running denominator and output when the max rises, and p = exp(s - m), exactly 0 at
 * -INFINITY scores; then out[q] += p[q, j] v[j] over the block's keys. The running max and
 * denominator of the QT queries live in locals, their outputs in out itself. A row whose
 * keys are all masked is left at zero. Memory: kt and kb, O(D T) per thread.
 */
#ifndef LECTOR_KERNELS_ATTENTION_SIMD_H
#define LECTOR_KERNELS_ATTENTION_SIMD_H

#include <float.h>
#include <math.h>

#include "kernels/kernels_impl.h"
#include "kernels/simd.h"

#if VL == 16
#define QT 6  // queries per tile: 6 x 4 score accumulators and 6 x 4 output ones (of 32 zmm)
#define NKV 4 // key vectors per block (scores_1 .. scores_4 below)
#define DV 4  // vectors of D per output chunk
#else
#define QT 4  // AVX2 has 16 ymm: fewer accumulators
#define NKV 4
#define DV 2
#endif
#define KB (NKV * VL) // keys per block
// Full unrolling keeps the small accumulator arrays below in registers (gcc -O2 would
// otherwise leave them on the stack).
#define UNROLL _Pragma("GCC unroll 8")

// o[i][d0 .. d0 + NV VL) += sum_j p[i][j] v[j][d0 ..] over the block's nreal keys, for the
// QT rows of the tile (rows past nq are computed on repeated queries and not stored).
// Every output element is one chain of multiply-adds over the keys, in key order.
#define DEFINE_PV(NV)                                                                       \
    static inline void pv_##NV(float *const o[QT], int nq, float p[QT][KB],                 \
                               const float *vbase, int64_t ldv, int64_t nreal, int64_t d0) { \
        vf a[QT][NV];                                                                       \
        UNROLL for (int i = 0; i < QT; i++)                                                 \
            UNROLL for (int v = 0; v < NV; v++) a[i][v] = v_load(o[i] + d0 + v * VL);       \
        for (int64_t j = 0; j < nreal; j++) {                                               \
            const float *vj = vbase + j * ldv + d0;                                         \
            vf x[NV];                                                                       \
            UNROLL for (int v = 0; v < NV; v++) x[v] = v_load(vj + v * VL);                 \
            UNROLL for (int i = 0; i < QT; i++) {                                           \
                vf pj = v_set1(p[i][j]);                                                    \
                UNROLL for (int v = 0; v < NV; v++) a[i][v] = v_fma(pj, x[v], a[i][v]);     \
            }                                                                               \
        }                                                                                   \
        UNROLL for (int i = 0; i < QT; i++)                                                 \
            if (i < nq) UNROLL for (int v = 0; v < NV; v++) v_store(o[i] + d0 + v * VL, a[i][v]); \
    }
DEFINE_PV(DV)
DEFINE_PV(1)

// s[i][v] = q[i] . k for the NV VL keys of the block (kt: (D, ldk), from the block's first
// key), for the QT queries of the tile; each kt load is shared by the QT queries.
#define DEFINE_SCORES(NV)                                                                   \
    static inline void scores_##NV(vf s[QT][NKV], const float *const q[QT], const float *kt, \
                                   int64_t ldk, int64_t D) {                                \
        vf a[QT][NV];                                                                       \
        UNROLL for (int i = 0; i < QT; i++)                                                 \
            UNROLL for (int v = 0; v < NV; v++) a[i][v] = v_zero();                         \
        for (int64_t d = 0; d < D; d++) {                                                   \
            const float *kd = kt + d * ldk;                                                 \
            vf kv[NV];                                                                      \
            UNROLL for (int v = 0; v < NV; v++) kv[v] = v_load(kd + v * VL);                \
            UNROLL for (int i = 0; i < QT; i++) {                                           \
                vf qd = v_set1(q[i][d]);                                                    \
                UNROLL for (int v = 0; v < NV; v++) a[i][v] = v_fma(qd, kv[v], a[i][v]);    \
            }                                                                               \
        }                                                                                   \
        UNROLL for (int i = 0; i < QT; i++)                                                 \
            UNROLL for (int v = 0; v < NV; v++) s[i][v] = a[i][v];                          \
    }
DEFINE_SCORES(1)
DEFINE_SCORES(2)
DEFINE_SCORES(3)
DEFINE_SCORES(4)

void SIMD_SUFFIX(lector__attention_head)(float *out,          // (B, T, C)
                                         const float *qkv,    // (B, T, 3C)
                                         const int32_t *mask, // (B, T) or NULL
                                         float *kt, // (D, Tp) then (Tp), Tp = T up to VL
                                         int64_t b, int64_t h, int64_t T, int64_t C,
                                         int64_t H) {
    int64_t D = C / H, Tp = (T + VL - 1) / VL * VL;
    float scale = 1.0f / sqrtf((float)D);
    float *kb = kt + D * Tp;
    const float *base = qkv + b * T * 3 * C;
    const int32_t *mrow = mask ? mask + b * T : NULL;

    // pack K^T and the key bias
    for (int64_t t2 = 0; t2 < Tp; t2++) {
        int real = t2 < T && (!mrow || mrow[t2] != 0);
        kb[t2] = real ? 0.0f : -INFINITY;
        if (t2 >= T) {
            for (int64_t d = 0; d < D; d++) kt[d * Tp + t2] = 0.0f;
            continue;
        }
        const float *k = base + t2 * 3 * C + C + h * D;
        for (int64_t d = 0; d < D; d++) kt[d * Tp + t2] = k[d];
    }

    float p[QT][KB] = {{0}}; // probabilities of the tile and block; zeroed once so the
                             // unused rows of a last, short tile hold finite values
    for (int64_t t0 = 0; t0 < T; t0 += QT) {
        int nq = T - t0 < QT ? (int)(T - t0) : QT;
        const float *q[QT];
        float *o[QT], m[QT], l[QT];
        for (int i = 0; i < QT; i++) {
            // rows past T repeat the last query; they are computed and never stored
            int64_t t = t0 + (i < nq ? i : nq - 1);
            q[i] = base + t * 3 * C + h * D;
            o[i] = out + (b * T + t) * C + h * D;
            m[i] = -INFINITY;
            l[i] = 0.0f;
        }
        for (int i = 0; i < nq; i++)
            for (int64_t d = 0; d < D; d++) o[i][d] = 0.0f;

        for (int64_t j0 = 0; j0 < Tp; j0 += KB) {
            int64_t nk = Tp - j0 < KB ? Tp - j0 : KB; // keys of this block in kt (<= KB)
            int nv = (int)(nk / VL);                  // vectors of them
            // skip a block with no real key (padding at the end of a row)
            vf any = v_set1(-INFINITY);
            for (int v = 0; v < nv; v++) any = v_max(any, v_load(kb + j0 + v * VL));
            if (v_hmax(any) == -INFINITY) continue;

            // scores: each a chain of multiply-adds over d, in order
            vf s[QT][NKV];
            switch (nv) {
            case 1: scores_1(s, q, kt + j0, Tp, D); break;
            case 2: scores_2(s, q, kt + j0, Tp, D); break;
            case 3: scores_3(s, q, kt + j0, Tp, D); break;
            default: scores_4(s, q, kt + j0, Tp, D); break;
            }

            // online softmax per query
            vf vscale = v_set1(scale), lowest = v_set1(-FLT_MAX);
            for (int i = 0; i < nq; i++) {
                vf bm = v_set1(-INFINITY);
                for (int v = 0; v < nv; v++) {
                    s[i][v] = v_fma(s[i][v], vscale, v_load(kb + j0 + v * VL));
                    bm = v_max(bm, s[i][v]);
                }
                float bmax = v_hmax(bm);
                if (bmax > m[i]) {
                    float corr = expf(m[i] - bmax); // 0 on the first real block
                    l[i] *= corr;
                    vf vc = v_set1(corr);
                    for (int64_t d = 0; d < D; d += VL) v_store(o[i] + d, v_mul(v_load(o[i] + d), vc));
                    m[i] = bmax;
                }
                vf vm = v_set1(m[i]), sum = v_zero();
                for (int v = 0; v < nv; v++) {
                    vf e = v_exp(v_sub(s[i][v], vm));
                    e = v_zero_where_lt(e, s[i][v], lowest); // exactly 0 at masked keys
                    v_store(p[i] + v * VL, e);
                    sum = v_add(sum, e);
                }
                l[i] += v_hsum(sum);
            }

            // out[q] += p[q, j] v[j] over the keys that exist in qkv, DV vectors of D at a
            // time (QT * DV independent chains), then single vectors for the rest of D
            int64_t nreal = T - j0 < nk ? T - j0 : nk;
            const float *vbase = base + j0 * 3 * C + 2 * C + h * D;
            int64_t d = 0;
            for (; d + DV * VL <= D; d += DV * VL) pv_DV(o, nq, p, vbase, 3 * C, nreal, d);
            for (; d < D; d += VL) pv_1(o, nq, p, vbase, 3 * C, nreal, d);
        }

        for (int i = 0; i < nq; i++) {
            float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
            vf vi = v_set1(inv);
            for (int64_t d = 0; d < D; d += VL) v_store(o[i] + d, v_mul(v_load(o[i] + d), vi));
        }
    }
}

#endif /* LECTOR_KERNELS_ATTENTION_SIMD_H */
