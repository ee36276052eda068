// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization") following the order of
// operations of torch.optim.AdamW's single-tensor path (torch 1.13, foreach=False), so a
// trajectory matches torch's to float32 rounding: see shared/fixtures/adamw/trajectory.json.
#include "lector/head.h"

#include <math.h>
#include <string.h>

#include "base/base_impl.h"

struct lector_adamw {
    struct lector_adamw_params p;
    int64_t n_params;
    int64_t t;     // steps taken
    float *m;      // (n_params) first moment, torch's exp_avg
    float *v;      // (n_params) second moment, torch's exp_avg_sq
    float *vmax;   // (n_params) running max of v (amsgrad only, else NULL)
};

struct lector_adamw_params lector_adamw_default_params(void) {
    struct lector_adamw_params p = {
        .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
        .amsgrad = 0,
    };
    return p;
}

enum lector_status lector_adamw_init(int64_t n_params, const struct lector_adamw_params *p,
                                     struct lector_adamw **out, struct lector_error *err) {
    struct lector_adamw *opt = NULL;
    size_t n_bytes = 0;
    if (!out || !p)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "adamw: params or out is NULL");
    *out = NULL;
    if (n_params < 1)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "adamw: expected at least 1 parameter, got %lld", (long long)n_params);
    if (!(p->lr >= 0.0f) || !isfinite(p->lr))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "adamw: expected a finite learning rate >= 0, got %g", (double)p->lr);
    if (!(p->beta1 >= 0.0f && p->beta1 < 1.0f) || !(p->beta2 >= 0.0f && p->beta2 < 1.0f))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "adamw: expected betas in [0, 1), got %g and %g", (double)p->beta1,
                             (double)p->beta2);
    if (!(p->eps >= 0.0f) || !isfinite(p->eps))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "adamw: expected a finite eps >= 0, got %g", (double)p->eps);
    if (!(p->weight_decay >= 0.0f) || !isfinite(p->weight_decay))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "adamw: expected a finite weight decay >= 0, got %g",
                             (double)p->weight_decay);
    if (!lector__mul_size((size_t)n_params, sizeof(float), &n_bytes))
        return lector__error(err, LECTOR_STATUS_NOMEM, "adamw: %lld parameters overflow",
                             (long long)n_params);

    opt = lector__calloc(1, sizeof *opt);
    if (!opt) goto fail;
    opt->p = *p;
    opt->n_params = n_params;
    opt->m = lector__calloc((size_t)n_params, sizeof(float));
    opt->v = lector__calloc((size_t)n_params, sizeof(float));
    if (!opt->m || !opt->v) goto fail;
    if (p->amsgrad) {
        opt->vmax = lector__calloc((size_t)n_params, sizeof(float));
        if (!opt->vmax) goto fail;
    }
    *out = opt;
    return LECTOR_STATUS_OK;

fail:
    lector_adamw_free(opt);
    return lector__error(err, LECTOR_STATUS_NOMEM,
                         "adamw: cannot allocate optimiser state (3 x %zu bytes)", n_bytes);
}

void lector_adamw_free(struct lector_adamw *opt) {
    if (!opt) return;
    lector_free(opt->vmax);
    lector_free(opt->v);
    lector_free(opt->m);
    lector_free(opt);
}

void lector_adamw_set_lr(struct lector_adamw *opt, float lr) {
    LECTOR_ASSERT(opt && lr >= 0.0f);
    opt->p.lr = lr;
}

int64_t lector_adamw_n_steps(const struct lector_adamw *opt) { return opt->t; }
const float *lector_adamw_m(const struct lector_adamw *opt) { return opt->m; }
const float *lector_adamw_v(const struct lector_adamw *opt) { return opt->v; }
const float *lector_adamw_vmax(const struct lector_adamw *opt) { return opt->vmax; }

void lector_adamw_step(struct lector_adamw *opt, float *params, const float *grads,
                       const uint8_t *decay_mask) {
    LECTOR_ASSERT(opt && params && grads);
    opt->t++;
    const double lr = (double)opt->p.lr, beta1 = (double)opt->p.beta1,
                 beta2 = (double)opt->p.beta2;
    // torch computes these scalars as Python floats (double) and hands them to float32
    // tensor ops, which round them to float once.
    const float decay = (float)(1.0 - lr * (double)opt->p.weight_decay);
    const float b1 = opt->p.beta1, b2 = opt->p.beta2;
    const float one_minus_b1 = (float)(1.0 - beta1), one_minus_b2 = (float)(1.0 - beta2);
    const double bc1 = 1.0 - pow(beta1, (double)opt->t);
    const double bc2 = 1.0 - pow(beta2, (double)opt->t);
    const float neg_step_size = (float)(-(lr / bc1));
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = opt->p.eps;
    float *m = opt->m, *v = opt->v, *vmax = opt->vmax;

    for (int64_t i = 0; i < opt->n_params; i++) {
        float g = grads[i];
        // Decoupled weight decay first, on the parameter itself.
        if (!decay_mask || decay_mask[i]) params[i] *= decay;
        // exp_avg.mul_(beta1).add_(grad, alpha=1-beta1);
        // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2).
        m[i] = m[i] * b1 + one_minus_b1 * g;
        v[i] = v[i] * b2 + one_minus_b2 * g * g;
        float vi = v[i];
        if (vmax) {
            if (vi > vmax[i]) vmax[i] = vi;
            vi = vmax[i];
        }
        // denom = (v.sqrt() / bias_correction2_sqrt).add_(eps);
        // param.addcdiv_(exp_avg, denom, value=-step_size).
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        params[i] += neg_step_size * m[i] / denom;
    }
}
