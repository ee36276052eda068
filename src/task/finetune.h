/*
 * finetune.h: fine-tuning the top layers of an encoder with a linear or MLP head (internal, for
 * the command line and the benchmark tool).
 *
 * Usage:
 *     struct lector__finetune_params p = lector__finetune_default_params();
 *     p.n_unfreeze = 2;
 *     struct lector__finetune_result r = {0};
 *     lector__finetune(enc, train_rows, train_y, n_train, valid_rows, valid_y, n_valid, K,
 *                      &p, &r, &err);
 *     lector__finetune_predict(&r, rows, n, logits, &err);   // with the best epoch's weights
 *     lector__finetune_result_free(&r);
 *
 * The recipe: the layers below the top n_unfreeze run once per text (the states entering
 * the first trainable layer are kept, as fp32 or bf16, in memory up to memory_budget bytes
 * and past it in a file-backed mapping of an unlinked temporary file, and with cache_dir
 * also in the feature cache, so that another run on the same texts reads them instead);
 * each epoch then runs only the top
 * layers forward and backward, shuffled mini-batches, AdamW with parameter groups (the
 * head at lr_head; each trainable layer at lr_encoder times layer_lr_decay^(its depth below
 * the top); the pooler as the top layer; no weight decay on biases and LayerNorm), one
 * warm-up + decay schedule for every group, gradient clipping over every trainable tensor.
 * The best epoch on validation macro-F1 (ties within min_delta: lower validation loss) is
 * kept; with patience, training stops after that many epochs in a row without a better one. Deterministic: the same seed gives bit-identical weights whatever the thread count.
 */
#ifndef LECTOR_TASK_FINETUNE_H
#define LECTOR_TASK_FINETUNE_H

#include "lector/classifier.h"
#include "lector/encoder.h"
#include "lector/head.h"
#include "lector/train.h"

#include <stddef.h>
#include <stdint.h>

#include "encoder/encoder_train.h"

struct lector__finetune_params {
    int64_t n_unfreeze;     // top layers trained [1]
    int64_t n_epochs;       // [3]
    int64_t batch_size;     // [16]
    uint64_t seed;          // [42]
    float lr_head;          // [1e-3]
    float lr_encoder;       // [1e-4]
    float layer_lr_decay;   // each layer below the top: this times the one above [1]
    float weight_decay;     // on weight matrices only [0.01]
    float warmup;           // fraction of the steps in linear warm-up [0.06]
    enum lector_schedule schedule; // [linear]
    float clip_norm;        // global L2 norm over every trainable tensor; 0 = off [1]
    float encoder_dropout;  // hidden and attention dropout in the trainable layers [0.1]
    float pooled_dropout;   // dropout on the pooled vector before the head [0.1]
    // H > 0: an MLP head (one GELU hidden layer of H units, lector_head_new's), its hidden
    // units dropped with hidden_dropout while training [0: linear; 0.1]
    int64_t n_hidden;
    float hidden_dropout;
    enum lector_pooling pooling; // [mean]
    float min_delta;        // [0.005]
    // Stop after this many epochs in a row that are not better than the best one by the
    // rule above (the best epoch's weights are kept); 0 = run every epoch [0]
    int64_t patience;
    // The loss, the frozen head's (lector_head_loss_backward): class_weights (K) scale each
    // text's loss by the weight of its true class, the batch loss being their weighted mean
    // (NULL: all 1; not read with Y_train); label_smoothing e in [0, 1) replaces the one-hot
    // target with (1 - e) onehot + e / K (multi-label: t (1 - e) + e / 2) [NULL, 0]
    const float *class_weights;
    float label_smoothing;
    size_t memory_budget;   // bytes of boundary states kept in memory [1 GiB]
    // How the boundary states are kept: LECTOR_PRECISION_FP32, or LECTOR_PRECISION_BF16
    // (rounded to nearest even: half the memory; read back as fp32 per batch) [fp32]
    enum lector_precision boundary_precision;
    // Feature cache directory where the boundary states are kept across runs (NULL: none)
    // and the cap on its files' bytes (0: none) [NULL]
    const char *cache_dir;
    uint64_t cache_max_size;
    // Called once the boundary states are computed, before the first epoch (may be NULL).
    void (*on_start)(void *user);
    // Called after each epoch (may be NULL): epoch from 1, its seconds, validation scores
    // (-1 without validation; valid_loss 0), the mean training loss.
    void (*on_epoch)(void *user, int64_t epoch, double seconds, double valid_accuracy,
                     double valid_macro_f1, double train_loss, double valid_loss);
    void *user;
    // Polled between batches of the frozen pass and between steps (may be NULL): non-zero
    // stops with LECTOR_STATUS_INTERRUPTED.
    const volatile int *cancel;
    // Optional inputs (NULL: none). sp_train, sp_valid: the texts' n-gram rows (the same
    // columns; sp_valid with validation rows): a wide-and-deep head whose n-gram weights V
    // (S, K) train with the rest as lector_train_head trains them: lazy AdamW steps over
    // the rows a batch touches at adamw_sparse's rate and weight decay, one schedule, their
    // gradients inside the clipped global norm.
    const struct lector_sparse_rows *sp_train, *sp_valid;
    struct lector_adamw_params adamw_sparse; // [lr 0.03, weight decay 0.01]
    // Multi-label targets (n, K) in {0, 1} (Y_valid with validation rows; y is then not
    // read): a sigmoid per label with binary cross-entropy (the head's loss); validation
    // scores at threshold 0.5 (lector_metrics_compute_multi).
    const uint8_t *Y_train, *Y_valid;
};
struct lector__finetune_params lector__finetune_default_params(void);

struct lector__finetune_result {
    struct lector_head *head;      // the best epoch's head
    struct lector__enc_train *tr;  // its trainable layers (params = the best epoch's)
    const struct lector_encoder *enc;
    int64_t best_epoch;
    double valid_accuracy, valid_macro_f1;
    double seconds_frozen;         // computing the boundary states, once
    double seconds_epochs;         // every epoch's training and validation
    int64_t n_epochs_run;
    size_t boundary_bytes;         // size of the kept boundary states
    int boundary_mapped;           // 1 if they went to a file-backed mapping
    char *cache_path;              // the boundary states' file in the cache, or NULL
    int64_t n_cached;              // texts (training and validation) whose states it had
    int64_t n_cache_damaged;       // its records that failed their check (computed again)
    char cache_warning[LECTOR_ERROR_MSG_LEN];       // why the cache could not be read or written, or ""
};
void lector__finetune_result_free(struct lector__finetune_result *r);

/* Train on rows (token ids, each 1 .. the encoder's positions) and labels y in [0, K) (or
 * p->Y_train's targets); valid may be NULL (n_valid 0: the last epoch is kept). */
enum lector_status lector__finetune(const struct lector_encoder *enc,
                                    const struct lector_token_row *train, const int32_t *y,
                                    int64_t n, const struct lector_token_row *valid,
                                    const int32_t *y_valid, int64_t n_valid, int64_t K,
                                    const struct lector__finetune_params *p,
                                    struct lector__finetune_result *r, struct lector_error *err);

/* logits (n, K) of rows with the result's weights (frozen layers, then the tuned ones). */
enum lector_status lector__finetune_predict(const struct lector__finetune_result *r,
                                            const struct lector_token_row *rows, int64_t n,
                                            float *logits, struct lector_error *err);

#endif /* LECTOR_TASK_FINETUNE_H */
