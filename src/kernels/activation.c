// Elementwise ops: bias add, residual add, GELU (exact and tanh), bias + GELU, ReLU, tanh.
#include "kernels/kernels.h"

#include <math.h>

#include "kernels/kernels_impl.h"

// ----------------------------------------------------------------------------
// bias and residual

// https://pytorch.org/docs/stable/generated/torch.add.html (broadcast over rows)
void lector_bias_add_ref(float *x,          // (N, C)
                         const float *bias, // (C)
                         int64_t N, int64_t C) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) x[n * C + c] += bias[c];
}

void lector_bias_add(float *x, const float *bias, int64_t N, int64_t C) {
    lector_bias_add_ref(x, bias, N, C);
}

// https://pytorch.org/docs/stable/generated/torch.add.html
void lector_residual_add_ref(float *x,       // (n)
                             const float *r, // (n)
                             int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += r[i];
}

void lector_residual_add(float *x, const float *r, int64_t n) { lector_residual_add_ref(x, r, n); }

// ----------------------------------------------------------------------------
// activations

// 1/sqrt(2) and sqrt(2/pi) as float literals (M_SQRT1_2 is not in strict C11).
#define INV_SQRT2 0.70710678118654752440f
#define SQRT_2_OVER_PI 0.79788456080286535588f

// https://pytorch.org/docs/stable/generated/torch.nn.GELU.html, approximate='none'
void lector_gelu_ref(float *x, // (n)
                     int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + erff(v * INV_SQRT2));
    }
}

void lector_gelu(float *x, int64_t n) { lector__kernels()->bias_gelu(x, NULL, 1, n); }

// https://pytorch.org/docs/stable/generated/torch.nn.GELU.html, approximate='tanh'
void lector_gelu_new_ref(float *x, // (n)
                         int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float u = SQRT_2_OVER_PI * (v + 0.044715f * v * v * v);
        x[i] = 0.5f * v * (1.0f + tanhf(u));
    }
}

void lector_gelu_new(float *x, int64_t n) { lector__kernels()->bias_gelu_new(x, NULL, 1, n); }

// bias then the activation act, row by row: the reference of a fused bias + activation
static void bias_then_ref(float *x,          // (N, C)
                          const float *bias, // (C) or NULL
                          int64_t N, int64_t C, void (*act)(float *x, int64_t n)) {
    for (int64_t n = 0; n < N; n++) {
        float *row = x + n * C;
        if (bias) lector_bias_add_ref(row, bias, 1, C);
        act(row, C);
    }
}

void lector_bias_gelu_ref(float *x, const float *bias, int64_t N, int64_t C) {
    bias_then_ref(x, bias, N, C, lector_gelu_ref);
}

void lector_bias_gelu(float *x, const float *bias, int64_t N, int64_t C) {
    lector__kernels()->bias_gelu(x, bias, N, C);
}

void lector_bias_gelu_new_ref(float *x, const float *bias, int64_t N, int64_t C) {
    bias_then_ref(x, bias, N, C, lector_gelu_new_ref);
}

void lector_bias_gelu_new(float *x, const float *bias, int64_t N, int64_t C) {
    lector__kernels()->bias_gelu_new(x, bias, N, C);
}

// https://pytorch.org/docs/stable/generated/torch.nn.ReLU.html
void lector_relu_ref(float *x, // (n)
                     int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void lector_relu(float *x, int64_t n) { lector__kernels()->bias_relu(x, NULL, 1, n); }

void lector__bias_relu_ref(float *x, const float *bias, int64_t N, int64_t C) {
    bias_then_ref(x, bias, N, C, lector_relu_ref);
}

// ----------------------------------------------------------------------------
// bias + activation, rows split over the kernel threads

struct bias_act_job {
    float *x;
    const float *bias;
    int64_t N, C;
    void (*fn)(float *x, const float *bias, int64_t N, int64_t C);
};

static void bias_act_worker(void *arg, int ith, int nth) {
    struct bias_act_job *j = arg;
    int64_t lo, hi;
    lector__split(j->N, ith, nth, &lo, &hi);
    if (lo < hi) j->fn(j->x + lo * j->C, j->bias, hi - lo, j->C);
}

static void bias_only(float *x, const float *bias, int64_t N, int64_t C) {
    if (bias) lector_bias_add_ref(x, bias, N, C);
}

void lector_bias_act(float *x, const float *bias, int64_t N, int64_t C, enum lector__act act) {
    const struct lector__kernel_table *k = lector__kernels();
    struct bias_act_job j = {x, bias, N, C, bias_only};
    switch (act) {
    case LECTOR__ACT_NONE: break;
    case LECTOR__ACT_GELU: j.fn = k->bias_gelu; break;
    case LECTOR__ACT_GELU_NEW: j.fn = k->bias_gelu_new; break;
    case LECTOR__ACT_RELU: j.fn = k->bias_relu; break;
    }
    // below ~64K elements waking a thread costs more than it saves
    int n_max = N * C < (int64_t)1 << 16 ? 1 : N > 64 ? 64 : (int)N;
    lector__parallel_run(bias_act_worker, &j, n_max);
}

// https://pytorch.org/docs/stable/generated/torch.tanh.html
void lector_tanh_ref(float *x, // (n)
                     int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}
