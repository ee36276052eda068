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
    // lazy row updates (lector_adamw_step_rows), allocated on first use:
    double log_decay;  // sum over the steps taken of log(1 - lr wd)
    int64_t n_rows;    // rows of row_len parameters
    int64_t *row_t;    // (n_rows) step each row was last brought up to date
    double *row_logd;  // (n_rows) log_decay at that step
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
    lector_free(opt->row_logd);
    lector_free(opt->row_t);
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

// The factors of step opt->t (already incremented) at the current learning rate.
struct step_consts {
    float decay, b1, b2, one_minus_b1, one_minus_b2, neg_step_size, bc2_sqrt, eps;
};

static struct step_consts step_consts(const struct lector_adamw *opt) {
    const double lr = (double)opt->p.lr, beta1 = (double)opt->p.beta1,
                 beta2 = (double)opt->p.beta2;
    // torch computes these scalars as Python floats (double) and hands them to float32
    // tensor ops, which round them to float once.
    const double bc1 = 1.0 - pow(beta1, (double)opt->t);
    const double bc2 = 1.0 - pow(beta2, (double)opt->t);
    struct step_consts k = {
        .decay = (float)(1.0 - lr * (double)opt->p.weight_decay),
        .b1 = opt->p.beta1,
        .b2 = opt->p.beta2,
        .one_minus_b1 = (float)(1.0 - beta1),
        .one_minus_b2 = (float)(1.0 - beta2),
        .neg_step_size = (float)(-(lr / bc1)),
        .bc2_sqrt = (float)sqrt(bc2),
        .eps = opt->p.eps,
    };
    return k;
}

// Elements [i0, i1) of one step.
static void update(struct lector_adamw *opt, const struct step_consts *k, float *params,
                   const float *grads, const uint8_t *decay_mask, int64_t i0, int64_t i1) {
    float *m = opt->m, *v = opt->v, *vmax = opt->vmax;
    for (int64_t i = i0; i < i1; i++) {
        float g = grads[i];
        // Decoupled weight decay first, on the parameter itself.
        if (!decay_mask || decay_mask[i]) params[i] *= k->decay;
        // exp_avg.mul_(beta1).add_(grad, alpha=1-beta1);
        // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2).
        m[i] = m[i] * k->b1 + k->one_minus_b1 * g;
        v[i] = v[i] * k->b2 + k->one_minus_b2 * g * g;
        float vi = v[i];
        if (vmax) {
            if (vi > vmax[i]) vmax[i] = vi;
            vi = vmax[i];
        }
        // denom = (v.sqrt() / bias_correction2_sqrt).add_(eps);
        // param.addcdiv_(exp_avg, denom, value=-step_size).
        float denom = sqrtf(vi) / k->bc2_sqrt + k->eps;
        params[i] += k->neg_step_size * m[i] / denom;
    }
}

void lector_adamw_step(struct lector_adamw *opt, float *params, const float *grads,
                       const uint8_t *decay_mask) {
    LECTOR_ASSERT(opt && params && grads);
    opt->t++;
    opt->log_decay += log1p(-(double)opt->p.lr * (double)opt->p.weight_decay);
    const struct step_consts k = step_consts(opt);
    update(opt, &k, params, grads, decay_mask, 0, opt->n_params);
}

// ----------------------------------------------------------------------------
// lazy row updates

static enum lector_status rows_state(struct lector_adamw *opt, int64_t row_len,
                                     struct lector_error *err) {
    if (row_len < 1 || opt->n_params % row_len != 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "adamw: %lld parameters are not rows of %lld",
                             (long long)opt->n_params, (long long)row_len);
    const int64_t n_rows = opt->n_params / row_len;
    if (opt->row_t) {
        if (opt->n_rows != n_rows)
            return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                                 "adamw: rows of %lld, earlier calls used rows of %lld",
                                 (long long)row_len, (long long)(opt->n_params / opt->n_rows));
        return LECTOR_STATUS_OK;
    }
    opt->row_t = lector__calloc((size_t)n_rows, sizeof *opt->row_t);
    opt->row_logd = lector__calloc((size_t)n_rows, sizeof *opt->row_logd);
    if (!opt->row_t || !opt->row_logd) {
        lector_free(opt->row_t);
        lector_free(opt->row_logd);
        opt->row_t = NULL;
        opt->row_logd = NULL;
        return lector__error(err, LECTOR_STATUS_NOMEM, "adamw: cannot allocate the row state");
    }
    // rows start as up to date with whatever full steps were taken before
    for (int64_t r = 0; r < n_rows; r++) {
        opt->row_t[r] = opt->t;
        opt->row_logd[r] = opt->log_decay;
    }
    opt->n_rows = n_rows;
    return LECTOR_STATUS_OK;
}

// Bring row r up to step t_now (log_decay logd_now): the steps it missed had zero gradient
// for it, so its moments decay (m b1^k, v b2^k) and its weight decay applies (the product of
// the missed steps' 1 - lr wd); the missed steps' momentum updates are left out.
static void catch_up(struct lector_adamw *opt, float *params, const uint8_t *decay_mask,
                     int64_t r, int64_t row_len, int64_t t_now, double logd_now) {
    const int64_t missed = t_now - opt->row_t[r];
    if (missed <= 0) return;
    const float fm = (float)pow((double)opt->p.beta1, (double)missed);
    const float fv = (float)pow((double)opt->p.beta2, (double)missed);
    const float fd = (float)exp(logd_now - opt->row_logd[r]);
    for (int64_t i = r * row_len; i < (r + 1) * row_len; i++) {
        if (!decay_mask || decay_mask[i]) params[i] *= fd;
        opt->m[i] *= fm;
        opt->v[i] *= fv;
    }
    opt->row_t[r] = t_now;
    opt->row_logd[r] = logd_now;
}

enum lector_status lector_adamw_step_rows(struct lector_adamw *opt, float *params,
                                          const float *grads, const uint8_t *decay_mask,
                                          const int64_t *rows, int64_t n, int64_t row_len,
                                          struct lector_error *err) {
    LECTOR_ASSERT(opt && params && grads && (rows || n == 0));
    enum lector_status s = rows_state(opt, row_len, err);
    if (s != LECTOR_STATUS_OK) return s;
    for (int64_t j = 0; j < n; j++)
        if (rows[j] < 0 || rows[j] >= opt->n_rows)
            return lector__error(err, LECTOR_STATUS_RANGE, "adamw: row %lld outside [0, %lld)",
                                 (long long)rows[j], (long long)opt->n_rows);
    const int64_t t_prev = opt->t;
    const double logd_prev = opt->log_decay;
    opt->t++;
    opt->log_decay += log1p(-(double)opt->p.lr * (double)opt->p.weight_decay);
    const struct step_consts k = step_consts(opt);
    for (int64_t j = 0; j < n; j++) {
        const int64_t r = rows[j];
        if (opt->row_t[r] == opt->t) continue; // listed twice: updated once
        catch_up(opt, params, decay_mask, r, row_len, t_prev, logd_prev);
        update(opt, &k, params, grads, decay_mask, r * row_len, (r + 1) * row_len);
        opt->row_t[r] = opt->t;
        opt->row_logd[r] = opt->log_decay;
    }
    return LECTOR_STATUS_OK;
}

void lector_adamw_sync_rows(struct lector_adamw *opt, float *params, const uint8_t *decay_mask) {
    LECTOR_ASSERT(opt && params);
    if (!opt->row_t) return; // no lazy step yet: every row is current
    const int64_t row_len = opt->n_params / opt->n_rows;
    for (int64_t r = 0; r < opt->n_rows; r++)
        catch_up(opt, params, decay_mask, r, row_len, opt->t, opt->log_decay);
}
