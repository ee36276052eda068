// Fuzz target: a pytorch_model.bin (zip + pickle + storages) opened through the public
// checkpoint API, the way a downloaded file reaches lector.
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lector/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > ((size_t)1 << 20)) return 0;
    if (!path[0]) snprintf(path, sizeof path, "/tmp/lector-fuzz-%ld.bin", (long)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    if (size) fwrite(data, 1, size, fp);
    fclose(fp);
    struct lector_checkpoint *ck = NULL;
    struct lector_error err;
    if (lector_checkpoint_open(path, &ck, &err) == LECTOR_STATUS_OK) {
        // Touch every tensor: whatever opened must be readable to its last byte.
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < lector_checkpoint_n_tensors(ck); i++) {
            const struct lector_tensor *t = lector_checkpoint_tensor(ck, i);
            size_t n = (size_t)lector_tensor_numel(t) * lector_dtype_size(t->dtype);
            if (n) sink ^= ((const uint8_t *)t->data)[n - 1];
        }
        (void)sink;
    } else if (!memchr(err.msg, '\0', sizeof err.msg) || strchr(err.msg, '\n')) {
        __builtin_trap(); // messages are one NUL-terminated line
    }
    lector_checkpoint_close(ck);
    unlink(path);
    return 0;
}
