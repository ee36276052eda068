// Fuzz target: the restricted state-dict pickle reader on raw bytes.
#include <stddef.h>
#include <stdint.h>

#include "checkpoint/checkpoint_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > ((size_t)64 << 10)) return 0;
    struct lector__pkl_state ps;
    struct lector_error err;
    if (lector__pickle_state_dict(data, size, "data.pkl", &ps, &err) == LECTOR_STATUS_OK) {
        // What is accepted must be a contiguous view inside its storage.
        for (int64_t i = 0; i < ps.n_tensors; i++) {
            const struct lector__pkl_tensor *t = &ps.tensors[i];
            int64_t numel = 1;
            for (int32_t d = 0; d < t->n_dims; d++) numel *= t->shape[d];
            if (t->n_dims > LECTOR_MAX_DIMS || t->offset < 0 ||
                (numel > 0 && t->offset + numel > t->storage_numel))
                __builtin_trap();
        }
    }
    lector__pkl_state_free(&ps);
    return 0;
}
