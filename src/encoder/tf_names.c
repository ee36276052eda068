// The Hugging Face names of the variables of a TensorFlow BERT checkpoint (bert/...), beside
// the other families' naming in families.c.
#include "encoder/tf_names.h"

#include <stdio.h>
#include <string.h>

static bool contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

bool lector__tf_map_name(const char *tf, char *out, size_t n_out, bool *transpose) {
    *transpose = false;
    // Optimizer state (AdamWeightDecay's adam_m/adam_v, tf.train.AdamOptimizer's Adam,
    // Adam_1 and beta powers), the step counter and the pre-training heads.
    if (contains(tf, "/adam_m") || contains(tf, "/adam_v") || contains(tf, "Adam") ||
        strcmp(tf, "global_step") == 0 || strcmp(tf, "beta1_power") == 0 ||
        strcmp(tf, "beta2_power") == 0 || strncmp(tf, "cls/", 4) == 0)
        return false;
    if (strncmp(tf, "bert/", 5) != 0) {
        snprintf(out, n_out, "%s", tf);
        return true;
    }
    // bert/a/layer_3/b/kernel -> a.layer.3.b.weight, one path component at a time.
    size_t k = 0;
    const char *c = tf + 5;
    out[0] = '\0';
    while (k < n_out) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        const char *sep = k ? "." : "";
        size_t digits = 0;
        if (len > 6 && strncmp(c, "layer_", 6) == 0) {
            digits = strspn(c + 6, "0123456789");
            if (digits != len - 6) digits = 0;
        }
        if (digits) {
            k += (size_t)snprintf(out + k, n_out - k, "%slayer.%.*s", sep, (int)digits, c + 6);
        } else if (!slash && len == 6 && strncmp(c, "kernel", 6) == 0) {
            *transpose = true; // a Dense kernel is (in, out); torch's Linear weight (out, in)
            k += (size_t)snprintf(out + k, n_out - k, "%sweight", sep);
        } else if (!slash && len == 5 && strncmp(c, "gamma", 5) == 0) {
            k += (size_t)snprintf(out + k, n_out - k, "%sweight", sep);
        } else if (!slash && len == 4 && strncmp(c, "beta", 4) == 0) {
            k += (size_t)snprintf(out + k, n_out - k, "%sbias", sep);
        } else if (!slash && len >= 11 && strcmp(c + len - 11, "_embeddings") == 0) {
            k += (size_t)snprintf(out + k, n_out - k, "%s%.*s.weight", sep, (int)len, c);
        } else {
            k += (size_t)snprintf(out + k, n_out - k, "%s%.*s", sep, (int)len, c);
        }
        if (!slash) break;
        c = slash + 1;
    }
    return true;
}
