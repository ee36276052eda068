// What one core sustains for the products' inner instructions on AVX2 (no VNNI): bare loops
// of independent chains, no memory operands, timed in thread CPU time, median of 5 runs.
//   fma      vfmadd231ps ymm: 8 fp32 multiply-adds
//   u8s8     vpmaddubsw + vpmaddwd (by ones) + vpaddd: 32 uint8 x int8 multiply-adds into
//            int32 (exact only when each pair of products fits int16: 7-bit weights)
//   u8s8x2   two vpmaddubsw + vpaddw + vpmaddwd + vpaddd: 64 (needs 6-bit weights)
//   s16      vpmaddwd + vpaddd: 16 int16 x int16 multiply-adds into int32 (exact for uint8
//            inputs and int8 weights widened to int16)
//   s16+fma  one s16 step and one fma step interleaved (do the integer and float
//            multipliers share a pipe?)
//   maddubsw vpmaddubsw alone; maddwd vpmaddwd alone (issue rate of the multiplier)
//   u8s8bias vpmaddubsw, then its int16 pairs widened without the multiplier: vpaddw of
//            32768 (both halves unsigned), vpaddd of the whole lane into one accumulator,
//            vpsrld 16 and vpaddd into a second (the high halves), so the low halves'
//            sum is recovered at the end (7-bit weights, as u8s8)
// GOP/s counts a multiply-add as 2 operations, as GFLOP/s does for the FMA.
//
//   cc -O2 -o int8_peak scripts/bench/int8_peak.c && ./int8_peak
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double thread_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// ymm0, ymm1: operands; ymm2: ones (int16); ymm4..ymm15: 12 accumulators
#define SETUP                                                                               \
    "vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n vpabsb %%ymm0, %%ymm0\n"                             \
    "vpcmpeqd %%ymm1, %%ymm1, %%ymm1\n"                                                     \
    "vpcmpeqd %%ymm2, %%ymm2, %%ymm2\n vpsrlw $15, %%ymm2, %%ymm2\n"                        \
    "vxorps %%ymm4, %%ymm4, %%ymm4\n vmovaps %%ymm4, %%ymm5\n vmovaps %%ymm4, %%ymm6\n"     \
    "vmovaps %%ymm4, %%ymm7\n vmovaps %%ymm4, %%ymm8\n vmovaps %%ymm4, %%ymm9\n"            \
    "vmovaps %%ymm4, %%ymm10\n vmovaps %%ymm4, %%ymm11\n vmovaps %%ymm4, %%ymm12\n"         \
    "vmovaps %%ymm4, %%ymm13\n vmovaps %%ymm4, %%ymm14\n vmovaps %%ymm4, %%ymm15\n"

#define CLOBBER                                                                             \
    "ymm0", "ymm1", "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9",         \
        "ymm10", "ymm11", "ymm12", "ymm13", "ymm14", "ymm15", "cc"

#define LOOP(body)                                                                          \
    __asm__ volatile(SETUP "1:\n" body "dec %0\n jnz 1b\n vzeroupper\n"                     \
                     : "+r"(n)                                                              \
                     :                                                                      \
                     : CLOBBER)

#define FMA(r) "vfmadd231ps %%ymm0, %%ymm1, %%ymm" #r "\n"
#define U8S8(r) "vpmaddubsw %%ymm1, %%ymm0, %%ymm3\n vpmaddwd %%ymm2, %%ymm3, %%ymm3\n" \
                "vpaddd %%ymm3, %%ymm" #r ", %%ymm" #r "\n"
#define U8S8X2(r) "vpmaddubsw %%ymm1, %%ymm0, %%ymm3\n vpmaddubsw %%ymm0, %%ymm0, %%ymm2\n" \
                  "vpaddw %%ymm2, %%ymm3, %%ymm3\n vpmaddwd %%ymm1, %%ymm3, %%ymm3\n"   \
                  "vpaddd %%ymm3, %%ymm" #r ", %%ymm" #r "\n"
#define S16(r) "vpmaddwd %%ymm1, %%ymm0, %%ymm3\n vpaddd %%ymm3, %%ymm" #r ", %%ymm" #r "\n"
#define MADDUBSW(r) "vpmaddubsw %%ymm1, %%ymm0, %%ymm" #r "\n"
#define MADDWD(r) "vpmaddwd %%ymm1, %%ymm0, %%ymm" #r "\n"
#define MIX(r) "vpmaddwd %%ymm1, %%ymm0, %%ymm3\n vpaddd %%ymm3, %%ymm" #r ", %%ymm" #r "\n" \
               "vfmadd231ps %%ymm0, %%ymm2, %%ymm" #r "\n"
#define BIAS(r, h) "vpmaddubsw %%ymm1, %%ymm0, %%ymm3\n vpaddw %%ymm2, %%ymm3, %%ymm3\n"    \
                   "vpaddd %%ymm3, %%ymm" #r ", %%ymm" #r "\n vpsrld $16, %%ymm3, %%ymm3\n" \
                   "vpaddd %%ymm3, %%ymm" #h ", %%ymm" #h "\n"
#define X12(M) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define X6(M) M(4, 5) M(6, 7) M(8, 9) M(10, 11) M(12, 13) M(14, 15)

static void run_fma(long n) { LOOP(X12(FMA)); }
static void run_u8s8(long n) { LOOP(X12(U8S8)); }
static void run_u8s8x2(long n) { LOOP(X12(U8S8X2)); }
static void run_s16(long n) { LOOP(X12(S16)); }
static void run_mix(long n) { LOOP(X12(MIX)); }
static void run_maddubsw(long n) { LOOP(X12(MADDUBSW)); }
static void run_maddwd(long n) { LOOP(X12(MADDWD)); }
static void run_bias(long n) { LOOP(X6(BIAS)); }

struct loop {
    const char *name;
    void (*fn)(long);
    double ops; // operations per iteration (multiply-adds x 2)
};

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 20000000;
    const struct loop loops[] = {
        {"fma", run_fma, 12 * 8 * 2},
        {"u8s8", run_u8s8, 12 * 32 * 2},
        {"u8s8x2", run_u8s8x2, 12 * 64 * 2},
        {"s16", run_s16, 12 * 16 * 2},
        {"s16+fma", run_mix, 12 * (16 + 8) * 2},
        {"maddubsw", run_maddubsw, 12 * 32 * 2},
        {"maddwd", run_maddwd, 12 * 16 * 2},
        {"u8s8bias", run_bias, 6 * 32 * 2},
    };
    double fma = 0;
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        double g[5];
        for (int r = 0; r < 5; r++) {
            double t0 = thread_now();
            loops[i].fn(iters);
            g[r] = loops[i].ops * (double)iters / (thread_now() - t0) * 1e-9;
        }
        qsort(g, 5, sizeof g[0], cmp);
        if (i == 0) fma = g[2];
        printf("%-9s %7.1f GOP/s (min %.1f, max %.1f) = %.2fx fma\n", loops[i].name, g[2], g[0],
               g[4], g[2] / fma);
    }
    return 0;
}
