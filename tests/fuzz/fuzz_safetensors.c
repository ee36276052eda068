// Fuzz target: the safetensors reader on an in-memory image (header validation, layout
// checks, F16/BF16 conversion, name lookup). Inputs are capped at 1 MiB to keep runs fast.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint/checkpoint_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > ((size_t)1 << 20)) return 0;
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    if (lector__checkpoint_open_memory(data, size, "fuzz.safetensors", &ck, &err) !=
        LECTOR_STATUS_OK)
        return 0;
    // Touch every byte a caller may read, so a bad offset shows up under ASan.
    volatile uint8_t sink = 0;
    for (int64_t i = 0; i < lector_checkpoint_n_tensors(ck); i++) {
        const struct lector_tensor *t = lector_checkpoint_tensor(ck, i);
        size_t n = (size_t)lector_tensor_numel(t) * lector_dtype_size(t->dtype);
        const uint8_t *p = t->data;
        for (size_t k = 0; k < n; k++) sink ^= p[k];
        if (lector_checkpoint_find(ck, t->name) != t) __builtin_trap();
    }
    (void)lector_checkpoint_metadata(ck, "format");
    (void)sink;
    lector_checkpoint_close(ck);
    return 0;
}
