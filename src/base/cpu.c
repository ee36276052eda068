// CPU feature detection from cpuid and xgetbv. This file is compiled without any -m flags
// (and must stay so): it runs before we know which instructions the CPU has, so nothing in
// it may be an AVX instruction the compiler chose on its own.
#include "base/base_impl.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

// XCR0 through xgetbv, written as raw asm so that no -mxsave flag is needed.
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

void lector__cpu_detect(struct lector__cpu *cpu) {
    memset(cpu, 0, sizeof *cpu);
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int has_fma = (c >> 12) & 1, has_osxsave = (c >> 27) & 1, has_avx = (c >> 28) & 1;
    if (!has_osxsave || !has_avx) return;
    // The OS must save the registers: XMM|YMM (bits 1-2) for AVX, plus opmask, ZMM0-15
    // upper halves and ZMM16-31 (bits 5-7) for AVX-512. A CPU that has the instructions
    // under an OS that does not enable the state must not use them.
    uint64_t xcr0 = read_xcr0();
    int os_avx = (xcr0 & 0x6) == 0x6, os_avx512 = (xcr0 & 0xe6) == 0xe6;
    if (!os_avx) return;
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    cpu->fma = has_fma;
    cpu->avx2 = (b >> 5) & 1;
    if (os_avx512) {
        cpu->avx512f = (b >> 16) & 1;
        cpu->avx512bw = (b >> 30) & 1;
        cpu->avx512vl = (b >> 31) & 1;
        cpu->avx512vnni = (c >> 11) & 1;
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        cpu->avx512bf16 = (a1 >> 5) & 1;
        (void)b1, (void)c1, (void)d1;
    }
}
#else
void lector__cpu_detect(struct lector__cpu *cpu) { memset(cpu, 0, sizeof *cpu); }
#endif
