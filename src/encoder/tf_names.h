// The Hugging Face names of a TensorFlow BERT checkpoint's variables (used by the TensorFlow
// bundle reader in src/checkpoint/tfckpt.c).
#ifndef LECTOR_ENCODER_TF_NAMES_H
#define LECTOR_ENCODER_TF_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* What a TF variable becomes: false to ignore it (optimizer slots, global_step, cls/ heads);
 * otherwise its Hugging Face name in out and whether a 2-D kernel is transposed
 * (bert/encoder/layer_0/attention/self/query/kernel (C_in, C_out) becomes
 * encoder.layer.0.attention.self.query.weight (C_out, C_in)). Names outside bert/ keep
 * their TF name. */
bool lector__tf_map_name(const char *tf_name, char *out, size_t n_out, bool *transpose);

#endif /* LECTOR_ENCODER_TF_NAMES_H */
