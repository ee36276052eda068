// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization") following the order of
// operations of torch.optim.AdamW's single-tensor path (torch 1.13, foreach=False), so a
// trajectory matches torch's to float32 rounding: see shared/fixtures/adamw/trajectory.json.
#include "lector/head.h"

#include <math.h>
#include <string.h>

#include "base/base_impl.h"
#include "head/head_impl.h"
#include "kernels/backward.h"
#include "kernels/kernels_impl.h"

struct lector_adamw {
    struct lector_adamw_params p;
    int64_t n_params;
    int64_t t;     // steps taken
    float *m;      // (n_params) first moment, torch's exp_avg
    float *v;      // (n_params) second moment, torch's exp_avg_sq
    float *vmax;   // (n_params) running max of v (amsgrad only, else NULL)
    // lazy row updates (lector_adamw_step_rows), allocated on first use:
    int64_t n_rows;    // rows of row_len parameters
    int64_t *row_t;    // (n_rows) step each row was last brought up to date
    struct step_history *h;
};

// Per-step scalars of the steps taken (index s = 1..t; s = 0 is the start), which a row's
// catch-up needs for the steps it missed:
//   w[s] = lr_s sqrt(1 - b2^s) / (1 - b1^s), the step size on m/sqrt(v) at step s;
//   d[s] = 1 - lr_s wd, its weight decay, and dinv[s] = 1 / d[s]; L[s] = sum of log d up to s;
// and, once step s + J is taken, the drift sums of a row last updated at step s over the
// J steps after it (A with the weight decay of those steps folded in, B without):
//   A[s] = sum_{j=1..J} w[s+j] r^j prod_{i=s+j+1..s+J} d[i],  B[s] = sum_{j=1..J} w[s+j] r^j
// with r = b1 / sqrt(b2); past J steps r^j is below 1e-17 and the terms no longer count.
#define POW_TABLE 1024
struct step_history {
    double *w, *d, *dinv, *L, *A, *B;
    int64_t cap; // entries allocated in each array
    int64_t J;   // 0: r >= 1 or not finite; catch-ups then sum every missed step
    double r;
    float b1k[POW_TABLE], b2k[POW_TABLE]; // b1^k and b2^k as catch_up rounds them, k small
};

// The history's arrays, for growing and freeing them alike.
#define HISTORY_ARRAYS(h) {&(h)->w, &(h)->d, &(h)->dinv, &(h)->L, &(h)->A, &(h)->B}

static void history_free(struct step_history *h) {
    if (!h) return;
    double **arr[6] = HISTORY_ARRAYS(h);
    for (int a = 0; a < 6; a++) lector_free(*arr[a]);
    lector_free(h);
}

struct lector_adamw_params lector_adamw_default_params(void) {
    struct lector_adamw_params p = {
        .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
        .amsgrad = 0,
    };
    return p;
}

enum lector_status lector_adamw_new(int64_t n_params, const struct lector_adamw_params *p,
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
    history_free(opt->h);
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
const float *lector__adamw_m(const struct lector_adamw *opt) { return opt->m; }
const float *lector__adamw_v(const struct lector_adamw *opt) { return opt->v; }
const float *lector__adamw_vmax(const struct lector_adamw *opt) { return opt->vmax; }

// The factors of step opt->t (already incremented) at the current learning rate.
static struct lector__adamw_consts step_consts(const struct lector_adamw *opt) {
    const double lr = (double)opt->p.lr, beta1 = (double)opt->p.beta1,
                 beta2 = (double)opt->p.beta2;
    // torch computes these scalars as Python floats (double) and hands them to float32
    // tensor ops, which round them to float once.
    const double bc1 = 1.0 - pow(beta1, (double)opt->t);
    const double bc2 = 1.0 - pow(beta2, (double)opt->t);
    struct lector__adamw_consts k = {
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

// Elements [i0, i1) of one step: the kernels' update (kernels/backward.h, SIMD where the
// CPU has it, the same bits), or with amsgrad this loop.
static void update(struct lector_adamw *opt, const struct lector__adamw_consts *k, float *params,
                   const float *grads, const uint8_t *decay_mask, int64_t i0, int64_t i1) {
    float *m = opt->m, *v = opt->v, *vmax = opt->vmax;
    if (!vmax) {
        lector__adamw_update(params + i0, m + i0, v + i0, grads + i0, decay_mask ? decay_mask + i0 : NULL, k,
                             i1 - i0);
        return;
    }
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

struct update_job {
    struct lector_adamw *opt;
    const struct lector__adamw_consts *k;
    float *params;
    const float *grads;
    const uint8_t *decay_mask;
};

// each element's update is its own: the split over threads changes no bit
static void update_worker(void *arg, int ith, int nth) {
    const struct update_job *j = arg;
    int64_t lo, hi;
    lector__split(j->opt->n_params, ith, nth, &lo, &hi);
    update(j->opt, j->k, j->params, j->grads, j->decay_mask, lo, hi);
}

void lector_adamw_step(struct lector_adamw *opt, float *params, const float *grads,
                       const uint8_t *decay_mask) {
    LECTOR_ASSERT(opt && params && grads);
    LECTOR_ASSERT(!opt->row_t); // an optimiser takes lazy row steps or full steps, not both
    opt->t++;
    const struct lector__adamw_consts k = step_consts(opt);
    struct update_job j = {opt, &k, params, grads, decay_mask};
    // below ~64K parameters waking a thread costs more than it saves
    lector__parallel_run(update_worker, &j, opt->n_params < (int64_t)1 << 16 ? 1 : 64);
}

// ----------------------------------------------------------------------------
// lazy row updates
//
// A row left out of steps s0+1 .. s0+k had a zero gradient there, so over those steps the
// dense update does, element by element: p *= d; m *= b1; v *= b2;
// p -= (lr/bc1) m / (sqrt(v)/sqrt(bc2) + eps). In closed form, with m0, v0 the moments at
// s0 and ignoring eps beside sqrt(v) (the only approximation: the skipped denominators'
// eps), p becomes
//   p0 prod_{j=1..k} d[s0+j] - (m0 / sqrt(v0)) sum_{j=1..k} w[s0+j] r^j prod_{i=s0+j+1..s0+k} d[i]
// and m = m0 b1^k, v = v0 b2^k. The sum is taken directly for k < J, and from A[s0] (B[s0]
// for elements without decay) scaled by the decay of the steps after s0 + J otherwise.

static bool history_reserve(struct step_history *h, int64_t n) {
    if (n <= h->cap) return true;
    int64_t cap = h->cap ? 2 * h->cap : 1024;
    while (cap < n) cap *= 2;
    double **arr[6] = HISTORY_ARRAYS(h);
    for (int a = 0; a < 6; a++) {
        double *q = lector__realloc(*arr[a], (size_t)cap * sizeof *q);
        if (!q) return false;
        *arr[a] = q;
    }
    h->cap = cap;
    return true;
}

static enum lector_status rows_state(struct lector_adamw *opt, int64_t row_len,
                                     struct lector_error *err) {
    if (opt->p.amsgrad)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "adamw: lazy row steps do not support amsgrad");
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
    if (opt->t > 0)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "adamw: lazy row steps must be used from the first step");
    opt->row_t = lector__calloc((size_t)n_rows, sizeof *opt->row_t);
    opt->h = lector__calloc(1, sizeof *opt->h);
    if (!opt->row_t || !opt->h || !history_reserve(opt->h, 1024)) {
        lector_free(opt->row_t);
        opt->row_t = NULL;
        history_free(opt->h);
        opt->h = NULL;
        return lector__error(err, LECTOR_STATUS_NOMEM, "adamw: cannot allocate the row state");
    }
    struct step_history *h = opt->h;
    h->w[0] = 0.0;
    h->d[0] = 1.0;
    h->dinv[0] = 1.0;
    h->L[0] = 0.0;
    h->r = (double)opt->p.beta1 / sqrt((double)opt->p.beta2);
    for (int k = 0; k < POW_TABLE; k++) {
        h->b1k[k] = (float)pow((double)opt->p.beta1, (double)k);
        h->b2k[k] = (float)pow((double)opt->p.beta2, (double)k);
    }
    h->J = 0;
    if (h->r == 0.0) h->J = 1;
    else if (h->r < 0.999 && isfinite(h->r)) h->J = (int64_t)ceil(log(1e-17) / log(h->r));
    opt->n_rows = n_rows;
    return LECTOR_STATUS_OK;
}

// Record the scalars of step t (just taken) and complete A, B of step t - J.
static void history_push(struct lector_adamw *opt) {
    struct step_history *h = opt->h;
    const int64_t t = opt->t;
    const double lr = (double)opt->p.lr, b1 = (double)opt->p.beta1, b2 = (double)opt->p.beta2;
    h->w[t] = lr * sqrt(1.0 - pow(b2, (double)t)) / (1.0 - pow(b1, (double)t));
    h->d[t] = 1.0 - lr * (double)opt->p.weight_decay;
    h->dinv[t] = 1.0 / h->d[t];
    h->L[t] = h->L[t - 1] + log1p(-lr * (double)opt->p.weight_decay);
    const int64_t s0 = t - h->J;
    if (h->J > 0 && s0 >= 0) {
        double a = 0.0, b = 0.0, f = 1.0, rj = pow(h->r, (double)h->J);
        const double inv_r = 1.0 / h->r;
        for (int64_t j = h->J; j >= 1; j--) { // f = prod d[s0+j+1 .. s0+J]
            a += h->w[s0 + j] * rj * f;
            b += h->w[s0 + j] * rj;
            f *= h->d[s0 + j];
            rj *= inv_r;
        }
        h->A[s0] = a;
        h->B[s0] = b;
    }
}

// Bring row r from its last step s0 up to step t_now (every step in between missed it).
static void catch_up(struct lector_adamw *opt, float *params, const uint8_t *decay_mask,
                     int64_t r, int64_t row_len, int64_t t_now) {
    const struct step_history *h = opt->h;
    const int64_t s0 = opt->row_t[r], k = t_now - s0;
    if (k <= 0) return;
    const double pdec = exp(h->L[t_now] - h->L[s0]); // the weight decay of the missed steps
    double sdec, snod; // drift sums with and without the weight decay of the later steps
    if (h->J > 0 && k >= h->J) {
        sdec = h->A[s0] * exp(h->L[t_now] - h->L[s0 + h->J]);
        snod = h->B[s0];
    } else {
        // forward over the missed steps: rj = r^j, g = 1 / prod d[s0+1 .. s0+j]; the
        // decay of the steps after s0 + j is then prod d[.. s0+k] g, applied at the end
        double rj = 1.0, g = 1.0;
        sdec = snod = 0.0;
        for (int64_t j = 1; j <= k && h->r > 0.0; j++) {
            rj *= h->r;
            g *= h->dinv[s0 + j];
            sdec += h->w[s0 + j] * rj * g;
            snod += h->w[s0 + j] * rj;
        }
        sdec *= pdec;
    }
    const float fm = k < POW_TABLE ? h->b1k[k] : (float)pow((double)opt->p.beta1, (double)k);
    const float fv = k < POW_TABLE ? h->b2k[k] : (float)pow((double)opt->p.beta2, (double)k);
    for (int64_t i = r * row_len; i < (r + 1) * row_len; i++) {
        const double m0 = (double)opt->m[i], v0 = (double)opt->v[i];
        const double ratio = v0 > 0.0 ? m0 / sqrt(v0) : 0.0;
        const bool dec = !decay_mask || decay_mask[i];
        params[i] = (float)((double)params[i] * (dec ? pdec : 1.0) - (dec ? sdec : snod) * ratio);
        opt->m[i] *= fm;
        opt->v[i] *= fv;
    }
    opt->row_t[r] = t_now;
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
    if (!history_reserve(opt->h, opt->t + 2))
        return lector__error(err, LECTOR_STATUS_NOMEM, "adamw: cannot grow the step history");
    const int64_t t_prev = opt->t;
    opt->t++;
    history_push(opt);
    const struct lector__adamw_consts k = step_consts(opt);
    for (int64_t j = 0; j < n; j++) {
        const int64_t r = rows[j];
        if (opt->row_t[r] == opt->t) continue; // listed twice: updated once
        catch_up(opt, params, decay_mask, r, row_len, t_prev);
        update(opt, &k, params, grads, decay_mask, r * row_len, (r + 1) * row_len);
        opt->row_t[r] = opt->t;
    }
    return LECTOR_STATUS_OK;
}

void lector_adamw_sync_rows(struct lector_adamw *opt, float *params, const uint8_t *decay_mask) {
    LECTOR_ASSERT(opt && params);
    if (!opt->row_t) return; // no lazy step yet: every row is current
    const int64_t row_len = opt->n_params / opt->n_rows;
    for (int64_t r = 0; r < opt->n_rows; r++) catch_up(opt, params, decay_mask, r, row_len, opt->t);
}
