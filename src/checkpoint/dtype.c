// Element types: sizes, safetensors names, and exact half-precision to float conversions.
#include "checkpoint/checkpoint_impl.h"

#include <string.h>

#include "base/base_impl.h"

// ----------------------------------------------------------------------------
// dtype table

struct dtype_info {
    const char *name;
    size_t size;
};
static const struct dtype_info dtype_table[] = {
    [LECTOR_DTYPE_F32] = {"F32", 4}, [LECTOR_DTYPE_F16] = {"F16", 2},
    [LECTOR_DTYPE_BF16] = {"BF16", 2}, [LECTOR_DTYPE_F64] = {"F64", 8},
    [LECTOR_DTYPE_I64] = {"I64", 8}, [LECTOR_DTYPE_I32] = {"I32", 4},
    [LECTOR_DTYPE_I16] = {"I16", 2}, [LECTOR_DTYPE_I8] = {"I8", 1},
    [LECTOR_DTYPE_U8] = {"U8", 1},   [LECTOR_DTYPE_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtype_table / sizeof dtype_table[0]))

size_t lector_dtype_size(enum lector_dtype dtype) {
    if ((int)dtype < 0 || (int)dtype >= N_DTYPES) return 0;
    return dtype_table[dtype].size;
}

const char *lector_dtype_name(enum lector_dtype dtype) {
    if ((int)dtype < 0 || (int)dtype >= N_DTYPES) return "?";
    return dtype_table[dtype].name;
}

bool lector__dtype_parse(const char *s, enum lector_dtype *out) {
    for (int i = 0; i < N_DTYPES; i++) {
        if (strcmp(s, dtype_table[i].name) == 0) {
            *out = (enum lector_dtype)i;
            return true;
        }
    }
    return false;
}

int64_t lector_tensor_numel(const struct lector_tensor *t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t->n_dims && i < LECTOR_MAX_DIMS; i++) n *= t->shape[i];
    return n;
}

// ----------------------------------------------------------------------------
// half precision

static float bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

// binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Every binary16 value is exactly
// representable in binary32, so this conversion never rounds.
float lector__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) // inf (man 0) or NaN: keep the payload, shifted to the top
        return bits_to_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        // Zero or subnormal: man * 2^-24. man < 2^10, so the product is exact in float.
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    // Normal: rebias the exponent from 15 to 127.
    return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

// bfloat16 is the top half of a binary32, so widening is a shift.
float lector__bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }
