// The training kernels (backward_simd.h) at 8 floats a vector, AVX2+FMA. Compiled with
// the matching -m flags (CMakeLists.txt); called only when dispatch found the instructions.
#include "kernels/simd.h"
#include "kernels/backward_simd.h"
