// Fuzz target: config.json parsing from memory.
#include <stddef.h>
#include <stdint.h>

#include "lector/encoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// Defined in src/encoder/config.c (internal; no header of its own yet).
enum lector_status lector__encoder_config_parse(const char *data, size_t n, const char *name,
                                                struct lector_encoder_config *cfg,
                                                struct lector_error *err);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > ((size_t)64 << 10)) return 0;
    struct lector_encoder_config cfg;
    struct lector_error err;
    if (lector__encoder_config_parse((const char *)data, size, "config.json", &cfg, &err) ==
        LECTOR_STATUS_OK) {
        // Whatever is accepted must satisfy what the encoder relies on.
        if (cfg.n_embd <= 0 || cfg.n_head <= 0 || cfg.n_embd % cfg.n_head != 0 ||
            cfg.pad_token_id < 0 || cfg.pad_token_id >= cfg.n_vocab || !(cfg.ln_eps > 0.0f))
            __builtin_trap();
    }
    return 0;
}
