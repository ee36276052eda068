// Pooling of hidden states (B, T, C) into one vector per row (B, C).
#include "kernels/kernels.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

// https://pytorch.org/docs/stable/generated/torch.select.html (select(1, 0): position 0)
void lector_pool_cls_ref(float *out,     // (B, C)
                         const float *h, // (B, T, C)
                         int64_t B, int64_t T, int64_t C) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++) out[b * C + c] = h[b * T * C + c];
}

// Mean (max false) or max of each row's real tokens; a row without any is zero (not 0/0 or
// -inf).
static void pool_real(float *out,          // (B, C)
                      const float *h,      // (B, T, C)
                      const int32_t *mask, // (B, T) or NULL
                      int64_t B, int64_t T, int64_t C, bool max) {
    for (int64_t b = 0; b < B; b++) {
        float *o = out + b * C;
        for (int64_t c = 0; c < C; c++) o[c] = max ? -INFINITY : 0.0f;
        int64_t n_real = 0;
        for (int64_t t = 0; t < T; t++) {
            if (mask && mask[b * T + t] == 0) continue;
            const float *x = h + (b * T + t) * C;
            if (max)
                for (int64_t c = 0; c < C; c++) o[c] = x[c] > o[c] ? x[c] : o[c];
            else
                for (int64_t c = 0; c < C; c++) o[c] += x[c];
            n_real++;
        }
        if (n_real == 0) memset(o, 0, (size_t)C * sizeof *o);
        else if (!max)
            for (int64_t c = 0; c < C; c++) o[c] /= (float)n_real;
    }
}

// https://pytorch.org/docs/stable/generated/torch.mean.html, restricted to real tokens
void lector_pool_mean_ref(float *out, const float *h, const int32_t *mask, int64_t B, int64_t T,
                          int64_t C) {
    pool_real(out, h, mask, B, T, C, false);
}

// https://pytorch.org/docs/stable/generated/torch.amax.html, restricted to real tokens
void lector_pool_max_ref(float *out, const float *h, const int32_t *mask, int64_t B, int64_t T,
                         int64_t C) {
    pool_real(out, h, mask, B, T, C, true);
}
