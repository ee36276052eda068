// (Bias +) residual + LayerNorm, AVX-512, 16 floats per vector. Compiled with the
// matching -m flags (CMakeLists.txt); called only when dispatch found the instructions.
#include "kernels/simd.h"
#include "kernels/layernorm_simd.h"
