/*
 * task_impl.h: what the task files share among themselves (internal).
 */
#ifndef LECTOR_TASK_IMPL_H
#define LECTOR_TASK_IMPL_H

#include "lector/classifier.h"
#include "lector/encoder.h"

/* Every row has 1 .. cfg->n_tokens_max tokens (RANGE naming the first that has not);
 * *T_max gets the longest (0 for no rows). */
enum lector_status lector__token_rows_check(const struct lector_encoder_config *cfg,
                                            const struct lector_token_row *rows, int64_t n,
                                            int64_t *T_max, struct lector_error *err);

#endif /* LECTOR_TASK_IMPL_H */
