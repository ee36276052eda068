// Bias + GELU (exact and tanh forms), AVX-512, 16 floats per vector. Compiled with the
// matching -m flags (CMakeLists.txt); called only when dispatch found the instructions.
#include "kernels/simd.h"
#include "kernels/activation_simd.h"
