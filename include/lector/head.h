/*
 * lector/head.h: the trainable classification head and its optimiser.
 *
 * Usage (one training step on a mini-batch of pooled features x (B, C) and labels y (B)):
 *     struct lector_head *head = NULL;
 *     lector_head_new(&(struct lector_head_shape){C, 0, 0, K}, seed, &head, &err);
 *     struct lector_adamw *opt = NULL;
 *     lector_adamw_new(lector_head_n_params(head), &(struct lector_adamw_params){...}, &opt, &err);
 *     float loss;
 *     lector_head_zero_grad(head);
 *     lector_head_loss_backward(head, x, NULL, y, B, NULL, &loss, NULL); // adds grads
 *     lector_adamw_step(opt, lector_head_params(head), lector_head_grads(head), lector_head_decay_mask(head));
 *
 * A linear softmax head: logits = x W^T + b with W (K, C), b (K). Parameters live in one
 * contiguous float array [W | b] (so the optimiser sees one vector), gradients likewise.
 *
 * A wide-and-deep head (n_sparse > 0) adds S sparse inputs (hashed n-grams) with
 * their own weights V (S, K): logits = x W^T + b + s V for a sparse row s. The parameter
 * array is then [W (K, C) | b (K) | V (S, K)] (see struct lector_head_layout). V is stored input-major so that one sparse
 * entry touches K neighbouring floats. C may be 0 (n-grams only) when S > 0.
 *
 * Thread safety: a head may be read (forward) by several threads at once; training calls
 * need exclusive access.
 */
#ifndef LECTOR_HEAD_H
#define LECTOR_HEAD_H

#include "lector/base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lector_head;

/* The sizes of a head: C dense inputs, H hidden GELU units (0: linear), S sparse inputs, K
 * classes. C >= 0, S >= 0, C + S >= 1, K >= 1, and C >= 1 when H > 0. */
struct lector_head_shape {
    int64_t n_in;      /* C */
    int64_t n_hidden;  /* H */
    int64_t n_sparse;  /* S */
    int64_t n_classes; /* K */
};

/* A new head. W (and W1 for an MLP: a = GELU(W1 x + b1), logits = a W^T + b + s V) is drawn
 * uniformly from [-1/sqrt(fan_in), 1/sqrt(fan_in)) (the bound torch's nn.Linear uses) by a
 * splitmix64 generator seeded with `seed`, W first, so the same seed gives bit-identical
 * weights on every machine; the biases and V are 0. To start from given weights, write them
 * into lector_head_params. INVALID_ARG for a shape outside the rules above, NOMEM if the
 * sizes overflow or allocation fails. Free with lector_head_free. */
LECTOR_API enum lector_status lector_head_new(const struct lector_head_shape *shape, uint64_t seed,
                                              struct lector_head **out, struct lector_error *err);
/* NULL is a no-op. */
LECTOR_API void lector_head_free(struct lector_head *head);

/* Where each tensor starts in the parameter (and gradient) array, in floats. The full layout
 * is [W (K, D) | b (K) | W1 (H, C) | b1 (H) | V (S, K)] with D = H for an MLP, else C. */
struct lector_head_layout {
    int64_t D;  /* width of the layer W reads: H, or C */
    int64_t W, b, W1, b1, V;
};
LECTOR_API struct lector_head_layout lector_head_get_layout(const struct lector_head *head);
LECTOR_API int64_t lector_head_n_hidden(const struct lector_head *head); /* H (0: linear) */

LECTOR_API int64_t lector_head_n_in(const struct lector_head *head);      /* C */
LECTOR_API int64_t lector_head_n_classes(const struct lector_head *head); /* K */
LECTOR_API int64_t lector_head_n_sparse(const struct lector_head *head);  /* S (0: none) */
LECTOR_API int64_t lector_head_n_params(const struct lector_head *head); /* K*D + K + H*C + H + S*K */
/* n_params floats laid out as struct lector_head_layout says, owned by the head, valid until
 * lector_head_free. The grads array has the same layout. */
LECTOR_API float *lector_head_params(struct lector_head *head);
LECTOR_API const float *lector_head_params_const(const struct lector_head *head);
LECTOR_API float *lector_head_grads(struct lector_head *head);
/* 1 where weight decay applies (W, V), 0 where not (b); n_params entries. */
LECTOR_API const uint8_t *lector_head_decay_mask(const struct lector_head *head);

/* Sparse rows in compressed-row form: row i holds the entries offsets[i] .. offsets[i+1]-1
 * with column ids cols[] in [0, n_cols) and values vals[]. A view: whoever fills it owns the
 * arrays (lector_sparse_rows_free releases ones the library allocated). */
struct lector_sparse_rows {
    int64_t n_rows;   /* B */
    int64_t n_cols;   /* S */
    int64_t *offsets; /* (B + 1), offsets[0] = 0 */
    int32_t *cols;    /* (offsets[B]) */
    float *vals;      /* (offsets[B]) */
};
/* Frees the arrays of a library-built sparse matrix and zeroes *sp. NULL is a no-op. */
LECTOR_API void lector_sparse_rows_free(struct lector_sparse_rows *sp);

/* logits (B, K) from dense rows x (B, C) (may be NULL when C = 0) and sparse rows sp (B rows;
 * may be NULL when S = 0, or to leave the sparse part out). Dot products accumulate in
 * double, in index order, so results do not depend on the machine. Safe from several threads
 * at once. NOMEM when the per-call scratch (K + 2H doubles) cannot be allocated. */
LECTOR_API enum lector_status lector_head_forward(const struct lector_head *head, const float *x,
                                                  const struct lector_sparse_rows *sp, int64_t B,
                                                  float *logits, struct lector_error *err);

/* probs (B, K) = softmax(logits / temperature) of lector_head_forward; temperature <= 0 is
 * read as 1. */
LECTOR_API enum lector_status lector_head_probs(const struct lector_head *head, const float *x,
                                                const struct lector_sparse_rows *sp, int64_t B,
                                                float temperature, float *probs,
                                                struct lector_error *err);

/* probs (B, K) = sigmoid(logits) of lector_head_forward: one independent probability per
 * label (multi-label heads). */
LECTOR_API enum lector_status lector_head_probs_multi(const struct lector_head *head,
                                                      const float *x,
                                                      const struct lector_sparse_rows *sp,
                                                      int64_t B, float *probs,
                                                      struct lector_error *err);

/* Softmax in place over rows of logits (B, K), subtracting the row max, so large logits
 * stay finite. A row that is entirely -INFINITY becomes all zeros (not NaN). */
LECTOR_API void lector_softmax_rows(float *logits, int64_t B, int64_t K);

LECTOR_API void lector_head_zero_grad(struct lector_head *head);

/* Loss options. class_weights (K) scale each example's loss by the weight of its true class,
 * and the batch loss is the weighted mean sum_i w[y_i] l_i / sum_i w[y_i] (torch's
 * CrossEntropyLoss(weight=...) reduction); NULL means all 1. label_smoothing e in [0, 1)
 * replaces the one-hot target with (1 - e) onehot + e / K, as torch's label_smoothing does. */
struct lector_loss_params {
    const float *class_weights; /* (K) or NULL */
    float label_smoothing;      /* 0 */
    float dropout;              /* MLP only: drop hidden units with this probability [0] */
    uint64_t dropout_seed;      /* the mask is a pure function of (seed, row, unit) */
    /* Multi-label: targets (B, K) in {0, 1} switch to a sigmoid per label with binary
     * cross-entropy, averaged over all B*K entries (torch's BCEWithLogitsLoss); labels are
     * then ignored, label smoothing moves targets to t (1 - e) + e / 2, and class_weights
     * scale each label's terms. */
    const uint8_t *targets;
};
/* Mean loss over the batch (softmax cross-entropy, or with lp->targets binary cross-entropy
 * per label); adds d(loss)/d(params) to the grads. Dense x (B, C) and/or sparse sp (B rows),
 * labels (B) in [0, K) (NULL with lp->targets; a label out of range is a programmer error:
 * it asserts); lp may be NULL (plain mean cross-entropy); the loss goes to *loss (may be
 * NULL). dx (B, C) (may be NULL) is overwritten with d(loss)/d(x), so the gradient can flow
 * on into the encoder layers that made x (fine-tuning). Deterministic: rows are accumulated
 * in batch order, so the same inputs always give bit-identical grads. */
LECTOR_API void lector_head_loss_backward(struct lector_head *head, const float *x,
                                          const struct lector_sparse_rows *sp,
                                          const int32_t *labels, int64_t B,
                                          const struct lector_loss_params *lp, float *loss,
                                          float *dx);

/* AdamW (decoupled weight decay, bias correction) in torch.optim.AdamW's order of operations
 * (torch 1.13, foreach=False), float32 state:
 *   p *= 1 - lr*wd (where decay applies); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   amsgrad only: vmax = max(vmax, v), and vmax replaces v below;
 *   p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
 * The scalar factors (1 - b1^t, lr / bc1, sqrt(bc2)) are computed in double, as Python
 * floats are in torch; the element-wise math is float32. */
struct lector_adamw_params {
    float lr;           /* 1e-3 */
    float beta1;        /* 0.9 */
    float beta2;        /* 0.999 */
    float eps;          /* 1e-8 */
    float weight_decay; /* 0.01 */
    int amsgrad;        /* 0; nonzero keeps the running max of v (torch's amsgrad=True) */
};
LECTOR_API struct lector_adamw_params lector_adamw_default_params(void);

struct lector_adamw;
/* Optimiser state for n_params parameters (m, v, and vmax with amsgrad, all zero).
 * Returns LECTOR_STATUS_INVALID_ARG for n_params < 1, lr/eps/weight_decay negative or not
 * finite, or a beta outside [0, 1). Free with lector_adamw_free (NULL is a no-op). */
LECTOR_API enum lector_status lector_adamw_new(int64_t n_params,
                                                const struct lector_adamw_params *p,
                                                struct lector_adamw **out,
                                                struct lector_error *err);
LECTOR_API void lector_adamw_free(struct lector_adamw *opt);
/* One step (t increments first, from 1) over params and grads (n_params each).
 * decay_mask may be NULL (decay everywhere). One optimiser per thread at a time. */
LECTOR_API void lector_adamw_step(struct lector_adamw *opt, float *params, const float *grads,
                                  const uint8_t *decay_mask);
/*
 * A lazy step for parameters laid out as rows of row_len (the n-gram weights V, one row
 * per n-gram column): only the n listed rows are read and written (a row listed twice
 * counts once), so a step costs what the batch touched, not the whole table. The result is
 * the full step's: rows not listed had a zero gradient, and when a row is next listed (or at
 * lector_adamw_sync_rows) the steps it missed are applied in closed form: its moments decay
 * (m b1^k, v b2^k), its weight decay and its momentum drift (the updates m/sqrt(v) keeps
 * making after the last gradient) are summed from the missed steps' learning rates and
 * bias corrections. The one approximation: eps is left out of the missed steps'
 * denominators, so the trajectory matches lector_adamw_step to float rounding where
 * sqrt(v) >> eps (exactly, bit for bit, when every row is listed at every step). The grads
 * of rows not listed are not read. An optimiser takes either lazy steps from its first step
 * or full steps (lector_adamw_step), not both; amsgrad is not supported. The first call
 * fixes row_len. INVALID_ARG if row_len does not divide n_params or changes, or with
 * amsgrad; RANGE for a row outside the table; NOMEM if the step history cannot grow
 * (48 bytes per step).
 */
LECTOR_API enum lector_status lector_adamw_step_rows(struct lector_adamw *opt, float *params,
                                                     const float *grads,
                                                     const uint8_t *decay_mask,
                                                     const int64_t *rows, int64_t n,
                                                     int64_t row_len, struct lector_error *err);
/* Bring every row up to the last step: call before reading or saving params after lazy
 * steps. A no-op when no lazy step was taken. */
LECTOR_API void lector_adamw_sync_rows(struct lector_adamw *opt, float *params,
                                       const uint8_t *decay_mask);
/* Change the learning rate for the next steps (schedules). */
LECTOR_API void lector_adamw_set_lr(struct lector_adamw *opt, float lr);
LECTOR_API int64_t lector_adamw_n_steps(const struct lector_adamw *opt);

#ifdef __cplusplus
}
#endif

#endif /* LECTOR_HEAD_H */
