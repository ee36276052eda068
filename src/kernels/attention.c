// Masked multi-head self-attention: the reference (full (T, T) probabilities) and the
// per-row online-softmax version that stores no (T, T) matrix.
#include "kernels/kernels.h"

#include <math.h>

#include "base/base_impl.h"

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

size_t lector_attention_scratch_size(int64_t C, int64_t H) {
    LECTOR_ASSERT(H > 0 && C % H == 0);
    return (size_t)(C / H) + KEY_BLOCK;
}

/*
 * For one query row, keep a running max m, a running denominator l and an unnormalised
 * output acc (D). Each block of keys is scored; if its max exceeds m, l and acc are
 * rescaled by exp(m_old - m_new) first, so every exp argument is <= 0. Masked keys are
 * skipped outright, which also makes a padded row bit-identical to the same row alone (the
 * real keys fall in the same blocks in both). At the end out = acc / l, or zeros if l = 0
 * (every key masked).
 */
void lector_attention(float *out,          // (B, T, C)
                      const float *qkv,    // (B, T, 3C)
                      const int32_t *mask, // (B, T) or NULL
                      float *scratch,      // (D + KEY_BLOCK)
                      int64_t B, int64_t T, int64_t C, int64_t H) {
    LECTOR_ASSERT(H > 0 && C % H == 0);
    int64_t D = C / H;
    float scale = 1.0f / sqrtf((float)D);
    float *acc = scratch;   // (D)
    float *s = scratch + D; // (KEY_BLOCK)
    for (int64_t b = 0; b < B; b++) {
        const int32_t *mrow = mask ? mask + b * T : NULL;
        for (int64_t h = 0; h < H; h++) {
            for (int64_t t = 0; t < T; t++) {
                const float *q = qkv + (b * T + t) * 3 * C + h * D;
                float m = -INFINITY, l = 0.0f;
                for (int64_t d = 0; d < D; d++) acc[d] = 0.0f;

                for (int64_t j0 = 0; j0 < T; j0 += KEY_BLOCK) {
                    int64_t nb = T - j0 < KEY_BLOCK ? T - j0 : KEY_BLOCK;
                    float bmax = -INFINITY;
                    for (int64_t jj = 0; jj < nb; jj++) {
                        int64_t j = j0 + jj;
                        if (mrow && mrow[j] == 0) {
                            s[jj] = -INFINITY;
                            continue;
                        }
                        const float *k = qkv + (b * T + j) * 3 * C + C + h * D;
                        float dot = 0.0f;
                        for (int64_t d = 0; d < D; d++) dot += q[d] * k[d];
                        s[jj] = dot * scale;
                        if (s[jj] > bmax) bmax = s[jj];
                    }
                    if (bmax == -INFINITY) continue; // the whole block is padding
                    if (bmax > m) {
                        float corr = expf(m - bmax); // 0 on the first real block
                        l *= corr;
                        for (int64_t d = 0; d < D; d++) acc[d] *= corr;
                        m = bmax;
                    }
                    for (int64_t jj = 0; jj < nb; jj++) {
                        if (s[jj] == -INFINITY) continue;
                        float p = expf(s[jj] - m);
                        l += p;
                        const float *v = qkv + (b * T + j0 + jj) * 3 * C + 2 * C + h * D;
                        for (int64_t d = 0; d < D; d++) acc[d] += p * v[d];
                    }
                }

                float *o = out + (b * T + t) * C + h * D;
                float inv = l > 0.0f ? 1.0f / l : 0.0f;
                for (int64_t d = 0; d < D; d++) o[d] = acc[d] * inv;
            }
        }
    }
}
