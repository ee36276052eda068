// The kernel table: filled once from cpuid (and $LECTOR_KERNELS), then read-only.
// Compiled without any -m flag, like base/cpu.c: it runs on every CPU.
#include "kernels/kernels_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"

static const struct lector__kernel_table table_ref = {
    .name = "ref",
    .matmul = NULL, // cblas_sgemm: OpenBLAS is the portable fast path
    .attention_head = NULL,
    .bias_gelu = lector_bias_gelu_ref,
    .bias_relu = lector__bias_relu_ref,
    .bias_gelu_new = lector_bias_gelu_new_ref,
    .residual_layernorm = lector_residual_layernorm_ref,
};

// Every kernel of a SIMD variant, by its suffix. The avx2 and avx512 products are our own,
// not OpenBLAS: its sums depend on the row count and threads.
#define SIMD_TABLE(sfx)                                     \
    .name = #sfx,                                           \
    .matmul = lector__matmul_##sfx,                         \
    .matmul_packed = lector__matmul_packed_##sfx,           \
    .matmul_packed_size = lector__matmul_packed_size_##sfx, \
    .matmul_pack_rows = lector__matmul_pack_rows_##sfx,     \
    .attention_head = lector__attention_head_##sfx,         \
    .bias_gelu = lector__bias_gelu_##sfx,                   \
    .bias_relu = lector__bias_relu_##sfx,                   \
    .bias_gelu_new = lector__bias_gelu_new_##sfx,           \
    .residual_layernorm = lector__residual_layernorm_##sfx

// The first-use product from the plain weight (lector_matmul_rows) is the AVX2 table's
// only: the AVX-512 one packs every weight before its first product, as it always has.
static const struct lector__kernel_table table_avx2 = {SIMD_TABLE(avx2),
                                                       .matmul_rows = lector__matmul_rows_avx2};
static const struct lector__kernel_table table_avx512 = {SIMD_TABLE(avx512)};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct lector__cpu cpu;
static const struct lector__kernel_table *chosen = &table_ref;

static bool usable_avx2(void) { return cpu.avx2 && cpu.fma; }
static bool usable_avx512(void) {
    return cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.fma;
}

static void choose(void) {
    lector__cpu_detect(&cpu);
    const char *want = getenv("LECTOR_KERNELS"); // ref | avx2 | unset (the best there is)
    bool allow512 = !want || strcmp(want, "avx512") == 0;
    bool allow2 = allow512 || strcmp(want, "avx2") == 0;
    if (allow512 && usable_avx512()) chosen = &table_avx512;
    else if (allow2 && usable_avx2()) chosen = &table_avx2;
    else chosen = &table_ref;
}

const struct lector__kernel_table *lector__kernels(void) {
    pthread_once(&once, choose);
    return chosen;
}

// What the CPU can run, whatever $LECTOR_KERNELS chose (the tests try every variant).
bool lector__kernels_have_avx2(void) {
    pthread_once(&once, choose);
    return usable_avx2();
}

bool lector__kernels_have_avx512(void) {
    pthread_once(&once, choose);
    return usable_avx512();
}

bool lector__kernels_have_bf16(void) {
    pthread_once(&once, choose);
    return chosen == &table_avx512 && cpu.avx512bf16;
}

const struct lector__int8_kernels *lector__kernels_int8(void) {
    pthread_once(&once, choose);
    if (chosen == &table_avx512 && cpu.avx512vnni) return &lector__int8_avx512;
    // AVX2 without VNNI (also under the AVX-512 table: its fp32 panels are only read)
    if (chosen != &table_ref) return &lector__int8_avx2;
    return NULL;
}

int64_t lector__kernels_packed_nr(void) {
    pthread_once(&once, choose);
    if (chosen == &table_avx512) return lector__gemm_core_avx512.nr;
    if (chosen == &table_avx2) return lector__gemm_core_avx2.nr;
    return 0;
}
