// Masked multi-head self-attention: the reference (full (T, T) probabilities) and the
// per-row online-softmax version that stores no (T, T) matrix.
#include "kernels/kernels.h"

#include <math.h>

#include "base/base_impl.h"
#include "kernels/kernels_impl.h"

// Keys are scored in blocks of this many; the online softmax rescales once per block.
#define KEY_BLOCK 64

// ----------------------------------------------------------------------------
// reference

// https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html
void lector_attention_ref(float *out,          // (B, T, C)
                          float *att,          // (B, H, T, T)
                          const float *qkv,    // (B, T, 3C)
                          const int32_t *mask, // (B, T) or NULL
                          int64_t B, int64_t T, int64_t C, int64_t H) {
    LECTOR_ASSERT(H > 0 && C % H == 0);
    int64_t D = C / H;
    float scale = 1.0f / sqrtf((float)D);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t h = 0; h < H; h++) {
            for (int64_t t = 0; t < T; t++) {
                const float *q = qkv + (b * T + t) * 3 * C + h * D;
                float *a = att + ((b * H + h) * T + t) * T;
                float *o = out + (b * T + t) * C + h * D;

                // scores, with -INFINITY at padded keys
                float maxv = -INFINITY;
                for (int64_t t2 = 0; t2 < T; t2++) {
                    if (mask && mask[b * T + t2] == 0) {
                        a[t2] = -INFINITY;
                        continue;
                    }
                    const float *k = qkv + (b * T + t2) * 3 * C + C + h * D;
                    float dot = 0.0f;
                    for (int64_t d = 0; d < D; d++) dot += q[d] * k[d];
                    a[t2] = dot * scale;
                    if (a[t2] > maxv) maxv = a[t2];
                }

                for (int64_t d = 0; d < D; d++) o[d] = 0.0f;
                if (maxv == -INFINITY) {
                    // every key masked: zeros, where exp(-inf - -inf) would give NaN
                    for (int64_t t2 = 0; t2 < T; t2++) a[t2] = 0.0f;
                    continue;
                }

                // softmax, subtracting the row max so exp never overflows
                float sum = 0.0f;
                for (int64_t t2 = 0; t2 < T; t2++) {
                    float e = expf(a[t2] - maxv); // exp(-inf) = 0 at padded keys
                    a[t2] = e;
                    sum += e;
                }
                for (int64_t t2 = 0; t2 < T; t2++) a[t2] /= sum;

                // weighted sum of the values
                for (int64_t t2 = 0; t2 < T; t2++) {
                    const float *v = qkv + (b * T + t2) * 3 * C + 2 * C + h * D;
                    for (int64_t d = 0; d < D; d++) o[d] += a[t2] * v[d];
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------
// online softmax

size_t lector_attention_scratch_size(int64_t T, int64_t C, int64_t H) {
    LECTOR_ASSERT(T > 0 && H > 0 && C % H == 0);
    // kt (D, KEY_BLOCK), m (T), l (T)
    return (size_t)(C / H) * KEY_BLOCK + 2 * (size_t)T;
}

// acc[d] += p * v[d]. Written as fixed chunks of 16 so that gcc -O2 (cheap vectoriser
// cost model) vectorises it; each element still sees the same single multiply-add.
static void axpy(float *restrict acc, float p, const float *restrict v, int64_t D) {
    int64_t d = 0;
    for (; d + 16 <= D; d += 16)
        for (int i = 0; i < 16; i++) acc[d + i] += p * v[d + i];
    for (; d < D; d++) acc[d] += p * v[d];
}

static void scale_row(float *acc, float f, int64_t D) {
    int64_t d = 0;
    for (; d + 16 <= D; d += 16)
        for (int i = 0; i < 16; i++) acc[d + i] *= f;
    for (; d < D; d++) acc[d] *= f;
}

/*
 * Per (b, h), keys are taken in blocks of KEY_BLOCK. A block's keys are packed transposed
 * into kt (D, KEY_BLOCK) once and scored against every query, so the inner loop runs over
 * keys with independent sums (vectorisable without reassociating anything: each score is
 * still summed over d in order, as in the reference). Each query row keeps a running max
 * m[t] and denominator l[t], and its unnormalised output lives in out itself: when a block
 * raises m[t], l[t] and the row are rescaled by exp(m_old - m_new), so every exp argument
 * is <= 0. Masked keys never enter the max or the sums, which also makes a padded row
 * bit-identical to the same row alone (the real keys fall in the same blocks in both). At
 * the end a row is divided by l[t], or left at zero when l[t] = 0 (every key masked).
 * Memory beyond the output: O(T + D * KEY_BLOCK) per (b, h), no (T, T) matrix.
 */
static void attention_online(float *out, const float *qkv, const int32_t *mask, float *scratch,
                             int64_t B, int64_t T, int64_t C, int64_t H) {
    int64_t D = C / H;
    float scale = 1.0f / sqrtf((float)D);
    float *kt = scratch;           // (D, KEY_BLOCK)
    float *m = kt + D * KEY_BLOCK; // (T) running max per query
    float *l = m + T;              // (T) running denominator per query
    float s[KEY_BLOCK];            // one query's scores against the block (a local array, so
                                   // the compiler knows it aliases nothing)
    for (int64_t b = 0; b < B; b++) {
        const int32_t *mrow = mask ? mask + b * T : NULL;
        for (int64_t h = 0; h < H; h++) {
            for (int64_t t = 0; t < T; t++) {
                m[t] = -INFINITY;
                l[t] = 0.0f;
                float *o = out + (b * T + t) * C + h * D;
                for (int64_t d = 0; d < D; d++) o[d] = 0.0f;
            }
            for (int64_t j0 = 0; j0 < T; j0 += KEY_BLOCK) {
                int64_t nb = T - j0 < KEY_BLOCK ? T - j0 : KEY_BLOCK;
                int64_t n_real = 0;
                for (int64_t jj = 0; jj < nb; jj++) n_real += !mrow || mrow[j0 + jj] != 0;
                if (n_real == 0) continue; // the whole block is padding

                // pack the block's keys transposed; zeros past the last key
                for (int64_t jj = 0; jj < KEY_BLOCK; jj++) {
                    if (jj >= nb) {
                        for (int64_t d = 0; d < D; d++) kt[d * KEY_BLOCK + jj] = 0.0f;
                        continue;
                    }
                    const float *k = qkv + (b * T + j0 + jj) * 3 * C + C + h * D;
                    for (int64_t d = 0; d < D; d++) kt[d * KEY_BLOCK + jj] = k[d];
                }

                for (int64_t t = 0; t < T; t++) {
                    const float *q = qkv + (b * T + t) * 3 * C + h * D;
                    for (int jj = 0; jj < KEY_BLOCK; jj++) s[jj] = 0.0f;
                    for (int64_t d = 0; d < D; d++) {
                        float qd = q[d];
                        const float *kd = kt + d * KEY_BLOCK;
                        for (int jj = 0; jj < KEY_BLOCK; jj++) s[jj] += qd * kd[jj];
                    }
                    float bmax = -INFINITY;
                    for (int64_t jj = 0; jj < nb; jj++) {
                        if (mrow && mrow[j0 + jj] == 0) {
                            s[jj] = -INFINITY;
                            continue;
                        }
                        s[jj] *= scale;
                        if (s[jj] > bmax) bmax = s[jj];
                    }
                    float *o = out + (b * T + t) * C + h * D;
                    if (bmax > m[t]) {
                        float corr = expf(m[t] - bmax); // 0 on the first real block
                        l[t] *= corr;
                        scale_row(o, corr, D);
                        m[t] = bmax;
                    }
                    for (int64_t jj = 0; jj < nb; jj++) {
                        if (s[jj] == -INFINITY) continue;
                        float p = expf(s[jj] - m[t]);
                        l[t] += p;
                        axpy(o, p, qkv + (b * T + j0 + jj) * 3 * C + 2 * C + h * D, D);
                    }
                }
            }
            for (int64_t t = 0; t < T; t++) {
                float *o = out + (b * T + t) * C + h * D;
                float inv = l[t] > 0.0f ? 1.0f / l[t] : 0.0f;
                for (int64_t d = 0; d < D; d++) o[d] *= inv;
            }
        }
    }
}

// ----------------------------------------------------------------------------
// SIMD variants, (b, h) pairs split over the kernel threads

// packed keys (D, Tk), key bias (Tk), packed values (D, Tk), scores
// (LECTOR__ATTENTION_ROWS, Tk)
size_t lector__attention_head_scratch_size(int64_t T, int64_t C, int64_t H) {
    int64_t Tk = (T + LECTOR__ATTENTION_KEYS - 1) / LECTOR__ATTENTION_KEYS * LECTOR__ATTENTION_KEYS;
    return (size_t)((2 * (C / H) + 1 + LECTOR__ATTENTION_ROWS) * Tk);
}

struct attention_job {
    float *out;
    const float *qkv;
    const int32_t *mask;
    int64_t B, T, C, H;
    float *kt;          // per thread: kt_stride floats
    size_t kt_stride;
    void (*head)(float *, const float *, const int32_t *, float *, int64_t, int64_t, int64_t,
                 int64_t, int64_t);
};

static void attention_worker(void *arg, int ith, int nth) {
    struct attention_job *j = arg;
    int64_t lo, hi;
    lector__split(j->B * j->H, ith, nth, &lo, &hi);
    float *kt = j->kt + (size_t)ith * j->kt_stride;
    for (int64_t bh = lo; bh < hi; bh++)
        j->head(j->out, j->qkv, j->mask, kt, bh / j->H, bh % j->H, j->T, j->C, j->H);
}

void lector_attention(float *out,          // (B, T, C)
                      const float *qkv,    // (B, T, 3C)
                      const int32_t *mask, // (B, T) or NULL
                      float *scratch,      // (lector_attention_scratch_size(T, C, H))
                      int64_t B, int64_t T, int64_t C, int64_t H) {
    LECTOR_ASSERT(H > 0 && C % H == 0);
    if (B <= 0 || T <= 0) return;
    int64_t D = C / H;
    const struct lector__kernel_table *k = lector__kernels();
    if (k->attention_head && D % 16 == 0) {
        int nth = lector__kernels_n_threads();
        if (nth > B * H) nth = (int)(B * H);
        struct attention_job j = {out, qkv, mask, B, T, C, H, NULL,
                                  lector__attention_head_scratch_size(T, C, H),
                                  k->attention_head};
        j.kt = lector__aligned_alloc((size_t)nth * j.kt_stride * sizeof(float));
        if (j.kt) {
            lector__parallel_run(attention_worker, &j, nth);
            lector__aligned_free(j.kt);
            return;
        }
        // no memory for the packed keys: the online version below needs only scratch
    }
    attention_online(out, qkv, mask, scratch, B, T, C, H);
}
