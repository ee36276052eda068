// Internal interfaces of the head layer, for tests; not installed.
#ifndef LECTOR_HEAD_IMPL_H
#define LECTOR_HEAD_IMPL_H

#include "lector/head.h"

// The optimiser's state, for tests against reference trajectories: m and v (n_params each),
// owned by the optimiser; vmax (torch's max_exp_avg_sq) is NULL unless amsgrad is on.
const float *lector__adamw_m(const struct lector_adamw *opt);
const float *lector__adamw_v(const struct lector_adamw *opt);
const float *lector__adamw_vmax(const struct lector_adamw *opt);

#endif
