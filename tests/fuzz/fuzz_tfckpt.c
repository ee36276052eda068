// Fuzz target: the TensorFlow checkpoint index reader (table blocks, CRCs, protobufs) on raw
// bytes, and the name mapping of whatever it accepts.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint/checkpoint_impl.h"
#include "encoder/tf_names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > ((size_t)64 << 10)) return 0;
    struct lector__tf_index ix;
    struct lector_error err;
    if (lector__tf_index_parse(data, size, "fuzz.index", &ix, &err) == LECTOR_STATUS_OK) {
        // What is accepted: names in strictly increasing order, shards in range, sizes sane.
        for (int64_t i = 0; i < ix.n_entries; i++) {
            const struct lector__tf_entry *e = &ix.entries[i];
            if (e->shard_id < 0 || e->shard_id >= ix.n_shards || e->numel < 0 ||
                (i > 0 && strcmp(ix.entries[i - 1].name, e->name) >= 0))
                __builtin_trap();
            char out[512];
            bool transpose;
            if (strlen(e->name) <= 400)
                (void)lector__tf_map_name(e->name, out, sizeof out, &transpose);
        }
    }
    lector__tf_index_free(&ix);
    return 0;
}
