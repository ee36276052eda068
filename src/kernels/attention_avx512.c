// One (b, h) of masked self-attention with an online softmax, AVX-512, 16 floats per
// vector. Compiled with the matching -m flags (CMakeLists.txt); called only when dispatch
// found the instructions.
#include "kernels/simd.h"
#include "kernels/attention_simd.h"
