/* none.c — the CUDA entry points in a build without CUDA (no nvcc found,
 * CAIRN_CUDA=OFF, or the Sanitize build): each says so. */
#include "gpu.h"

#define NO_CUDA "this build has no CUDA backend (configured without nvcc or with CAIRN_CUDA=OFF)"

int cl_gpu_compiled(void) { return 0; }

cl_status cl_backend_cuda_new(cl_backend *out)
{
    out->i = NULL;
    out->ctx = NULL;
    return cl_err(CL_ERR_UNSUPPORTED, NO_CUDA);
}

cl_status cl_gpu_copy_gbps(size_t bytes, int reps, double *gbps, char *name, size_t name_len)
{
    (void)bytes;
    (void)reps;
    *gbps = 0.0;
    if (name && name_len) name[0] = 0;
    return cl_err(CL_ERR_UNSUPPORTED, NO_CUDA);
}

cl_status cl_gpu_argmax(const float *x, uint32_t n, uint32_t *out)
{
    (void)x;
    (void)n;
    *out = 0;
    return cl_err(CL_ERR_UNSUPPORTED, NO_CUDA);
}

cl_status cl_gpu_host_dequant(int type, const void *row, uint32_t n, float *out)
{
    (void)type;
    (void)row;
    (void)n;
    (void)out;
    return cl_err(CL_ERR_UNSUPPORTED, NO_CUDA);
}
