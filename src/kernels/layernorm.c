// LayerNorm over the last dimension, alone and fused with the bias and residual adds.
#include "kernels/kernels.h"

#include <math.h>

#include "kernels/kernels_impl.h"

// https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html
void lector_layernorm_ref(float *out,         // (N, C), may equal inp
                          const float *inp,   // (N, C)
                          const float *gamma, // (C)
                          const float *beta,  // (C)
                          int64_t N, int64_t C, float eps) {
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        float *y = out + n * C;
        // Two passes (mean, then the biased variance about it) rather than E[x^2] - E[x]^2,
        // which cancels badly when the mean is large compared with the spread.
        float sum = 0.0f;
        for (int64_t c = 0; c < C; c++) sum += x[c];
        float mean = sum / (float)C;
        float var = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            float d = x[c] - mean;
            var += d * d;
        }
        var /= (float)C;
        float rstd = 1.0f / sqrtf(var + eps);
        // Each x[c] is read before y[c] is written, so out == inp is safe.
        for (int64_t c = 0; c < C; c++) y[c] = (x[c] - mean) * rstd * gamma[c] + beta[c];
    }
}

void lector_layernorm(float *out, const float *inp, const float *gamma, const float *beta,
                      int64_t N, int64_t C, float eps) {
    lector_residual_layernorm(out, inp, NULL, NULL, gamma, beta, N, C, eps);
}

// y = x + bias + res, then the LayerNorm above, one row at a time
void lector_residual_layernorm_ref(float *out,         // (N, C), may equal x or res
                                   const float *x,     // (N, C)
                                   const float *bias,  // (C) or NULL
                                   const float *res,   // (N, C) or NULL
                                   const float *gamma, // (C)
                                   const float *beta,  // (C)
                                   int64_t N, int64_t C, float eps) {
    for (int64_t n = 0; n < N; n++) {
        float *y = out + n * C;
        // element by element, each input read before y[c] is written: safe in place
        for (int64_t c = 0; c < C; c++) {
            float v = x[n * C + c];
            if (bias) v += bias[c];
            if (res) v += res[n * C + c];
            y[c] = v;
        }
        lector_layernorm_ref(y, y, gamma, beta, 1, C, eps);
    }
}

struct rln_job {
    float *out;
    const float *x, *bias, *res, *gamma, *beta;
    int64_t N, C;
    float eps;
};

static void rln_worker(void *arg, int ith, int nth) {
    struct rln_job *j = arg;
    int64_t lo, hi;
    lector__split(j->N, ith, nth, &lo, &hi);
    if (lo == hi) return;
    lector__kernels()->residual_layernorm(j->out + lo * j->C, j->x + lo * j->C, j->bias,
                                          j->res ? j->res + lo * j->C : NULL, j->gamma,
                                          j->beta, hi - lo, j->C, j->eps);
}

void lector_residual_layernorm(float *out, const float *x, const float *bias, const float *res,
                               const float *gamma, const float *beta, int64_t N, int64_t C,
                               float eps) {
    struct rln_job j = {out, x, bias, res, gamma, beta, N, C, eps};
    // below ~64K elements waking a thread costs more than it saves
    int n_max = N * C < (int64_t)1 << 16 ? 1 : N > 64 ? 64 : (int)N;
    lector__parallel_run(rln_worker, &j, n_max);
}
