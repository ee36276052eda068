// The training kernels (backward_simd.h) at 16 floats a vector, AVX-512 (F, BW, VL). Compiled with
// the matching -m flags (CMakeLists.txt); called only when dispatch found the instructions.
#include "kernels/simd.h"
#include "kernels/backward_simd.h"
