/* cuda.cu — the CUDA backend (backend.h, version 2).
 *
 * Whole-step path: load() uploads every weight tensor once, as its GGUF
 * bytes (quantised blocks stay quantised: Q8_0, Q4_0, Q4_K, Q6_K, F16,
 * BF16, F32, no repacking) into one device buffer at the offsets of
 * cl_gpu_tensors/cl_gpu_align; the F32 KV cache and the activations for
 * CL_GPU_MAX_BATCH tokens are allocated up front from cl_gpu_plan_make.
 * forward() then runs every layer and the output head on the device and
 * copies back only the logits. Matrix products: a warp per output row
 * (decode, up to 8 tokens) or a 64x64-tiled kernel that dequantises weight
 * tiles into shared memory (prefill); no cuBLAS, so the binary links only
 * the static CUDA runtime. Attention: split along the sequence in chunks of
 * CL_GPU_ATTN_CHUNK positions (flash-decoding), each split writing its max,
 * sum and partial output, then one combine pass.
 *
 * Per-op path (the table's host-pointer entries): each call copies its
 * inputs to a scratch device buffer, runs the same kernels and copies the
 * result back. It is slow and exists for the parity tests and for the few
 * host-side calls model.c makes (cl_model_hidden's norm). */
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "gpu.h"
}

/* ------------------------------------------------------------ weights */

__host__ __device__ __forceinline__ float ld_f16(const uint8_t *p)
{
    __half_raw r;
    r.x = (unsigned short)(p[0] | (p[1] << 8));
    return __half2float(__half(r));
}

__host__ __device__ __forceinline__ float bf16_f32(unsigned short h)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float((uint32_t)h << 16);
#else
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}

/* Element i of a row of type T, computed as quant.c's dequantisation does
 * (host-callable too: the normal suite checks it against quant.c through
 * cl_gpu_host_dequant). */
template <int T> __host__ __device__ __forceinline__ float wget(const uint8_t *row, uint32_t i)
{
    if (T == CL_TYPE_F32) return ((const float *)row)[i];
#ifdef __CUDA_ARCH__
    if (T == CL_TYPE_F16) return __half2float(((const __half *)row)[i]);
#else
    if (T == CL_TYPE_F16) return ld_f16(row + 2 * (size_t)i);
#endif
    if (T == CL_TYPE_BF16) return bf16_f32(((const unsigned short *)row)[i]);
    if (T == CL_TYPE_Q8_0) {
        const uint8_t *b = row + (size_t)(i >> 5) * 34;
        return ld_f16(b) * (float)(int8_t)b[2 + (i & 31)];
    }
    if (T == CL_TYPE_Q4_0) {
        const uint8_t *b = row + (size_t)(i >> 5) * 18;
        uint32_t j = i & 31;
        int q = j < 16 ? (b[2 + j] & 15) : (b[2 + j - 16] >> 4);
        return ld_f16(b) * (float)(q - 8);
    }
    if (T == CL_TYPE_Q4_K) {
        const uint8_t *b = row + (size_t)(i >> 8) * 144, *sc = b + 4;
        uint32_t j = i & 255, c = j >> 6, w = j & 63, is = c * 2 + (w >> 5), l = w & 31;
        uint8_t q = b[16 + c * 32 + l], s, mn;
        int nib = w < 32 ? (q & 15) : (q >> 4);
        if (is < 4) {
            s = sc[is] & 63;
            mn = sc[is + 4] & 63;
        } else {
            s = (uint8_t)((sc[is + 4] & 15) | ((sc[is - 4] >> 6) << 4));
            mn = (uint8_t)((sc[is + 4] >> 4) | ((sc[is] >> 6) << 4));
        }
        return ld_f16(b) * s * (float)nib - ld_f16(b + 2) * mn;
    }
    if (T == CL_TYPE_Q6_K) {
        const uint8_t *b = row + (size_t)(i >> 8) * 210;
        uint32_t j = i & 255, n = j >> 7, r = j & 127, qt = r >> 5, l = r & 31;
        const uint8_t *ql = b + n * 64, *qh = b + 128 + n * 32;
        const int8_t *sc = (const int8_t *)(b + 192 + n * 8);
        int lo = (qt & 1) ? ql[l + 32] : ql[l];
        lo = (qt & 2) ? (lo >> 4) : (lo & 15);
        int q = (lo | (((qh[l] >> (2 * qt)) & 3) << 4)) - 32;
        return ld_f16(b + 208) * sc[l / 16 + 2 * qt] * (float)q;
    }
    return 0.0f;
}

/* Runs STMT with the compile-time constant T set to the run-time type. */
#define TYPE_SWITCH(type, STMT)                                                                                      \
    switch (type) {                                                                                                  \
    case CL_TYPE_F32: { constexpr int T = CL_TYPE_F32; STMT; } break;                                                \
    case CL_TYPE_F16: { constexpr int T = CL_TYPE_F16; STMT; } break;                                                \
    case CL_TYPE_BF16: { constexpr int T = CL_TYPE_BF16; STMT; } break;                                              \
    case CL_TYPE_Q8_0: { constexpr int T = CL_TYPE_Q8_0; STMT; } break;                                              \
    case CL_TYPE_Q4_0: { constexpr int T = CL_TYPE_Q4_0; STMT; } break;                                              \
    case CL_TYPE_Q4_K: { constexpr int T = CL_TYPE_Q4_K; STMT; } break;                                              \
    case CL_TYPE_Q6_K: { constexpr int T = CL_TYPE_Q6_K; STMT; } break;                                              \
    default: break;                                                                                                  \
    }

/* ------------------------------------------------------------ reductions */

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sumd(double v)
{
    for (int o = 16; o; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    return v;
}

/* Block-wide reductions (blockDim.x a multiple of 32, at most 1024); every
 * thread gets the result. */
__device__ double block_sumd(double v)
{
    __shared__ double s[32];
    int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
    v = warp_sumd(v);
    __syncthreads();
    if (!l) s[w] = v;
    __syncthreads();
    v = threadIdx.x < (unsigned)nw ? s[threadIdx.x] : 0.0;
    if (!w) v = warp_sumd(v);
    if (!threadIdx.x) s[0] = v;
    __syncthreads();
    return s[0];
}
__device__ float block_sum(float v)
{
    __shared__ float s[32];
    int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (!l) s[w] = v;
    __syncthreads();
    v = threadIdx.x < (unsigned)nw ? s[threadIdx.x] : 0.0f;
    if (!w) v = warp_sum(v);
    if (!threadIdx.x) s[0] = v;
    __syncthreads();
    return s[0];
}
__device__ float block_max(float v)
{
    __shared__ float s[32];
    int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (!l) s[w] = v;
    __syncthreads();
    v = threadIdx.x < (unsigned)nw ? s[threadIdx.x] : -INFINITY;
    if (!w) v = warp_max(v);
    if (!threadIdx.x) s[0] = v;
    __syncthreads();
    return s[0];
}

/* ------------------------------------------------------------ matrix products */

#define MV_MAXB 8 /* tokens per matrix-vector pass */
#define MV_WARPS 8

/* Y[b][r] = W[r] . X[b] (+ bias[r]) for b < nb <= MV_MAXB: a warp per row,
 * its lanes over the row's values (consecutive lanes, consecutive values). */
template <int T>
__global__ void k_matvec(const uint8_t *W, size_t rb, uint32_t K, uint32_t R, const float *bias, const float *X,
                         uint32_t nb, float *Y)
{
    uint32_t r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    float acc[MV_MAXB];
    if (r >= R) return;
    const uint8_t *row = W + (size_t)r * rb;
#pragma unroll
    for (int b = 0; b < MV_MAXB; b++) acc[b] = 0.0f;
    for (uint32_t i = lane; i < K; i += 32) {
        float w = wget<T>(row, i);
#pragma unroll
        for (int b = 0; b < MV_MAXB; b++)
            if (b < (int)nb) acc[b] += w * X[(size_t)b * K + i];
    }
#pragma unroll
    for (int b = 0; b < MV_MAXB; b++) {
        if (b >= (int)nb) break;
        float s = warp_sum(acc[b]);
        if (!lane) Y[(size_t)b * R + r] = s + (bias ? bias[r] : 0.0f);
    }
}

#define GT 64 /* rows and tokens per tile */
#define GK 16 /* values per step */

/* The same product for any nb: 16x16 threads, each computing 4 rows x 4
 * tokens of a 64x64 tile; weight tiles are dequantised into shared memory. */
template <int T>
__global__ void k_gemm(const uint8_t *W, size_t rb, uint32_t K, uint32_t R, const float *bias, const float *X,
                       uint32_t nb, float *Y)
{
    __shared__ float ws[GK][GT + 1], xs[GK][GT + 1];
    uint32_t tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    uint32_t r0 = blockIdx.x * GT, b0 = blockIdx.y * GT;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
    for (uint32_t k0 = 0; k0 < K; k0 += GK) {
        for (uint32_t e = tid; e < GT * GK; e += 256) {
            uint32_t rr = e / GK, kk = e % GK, r = r0 + rr, k = k0 + kk, b = b0 + rr;
            ws[kk][rr] = (r < R && k < K) ? wget<T>(W + (size_t)r * rb, k) : 0.0f;
            xs[kk][rr] = (b < nb && k < K) ? X[(size_t)b * K + k] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GK; kk++) {
            float a[4], x[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = ws[kk][tx + 16 * i], x[i] = xs[kk][ty + 16 * i];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * x[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            uint32_t r = r0 + tx + 16 * i, b = b0 + ty + 16 * j;
            if (r < R && b < nb) Y[(size_t)b * R + r] = acc[i][j] + (bias ? bias[r] : 0.0f);
        }
}

/* Token rows of the embedding table, dequantised: x[b] = E[toks[b]]. */
template <int T> __global__ void k_embed(const uint8_t *E, size_t rb, uint32_t n, const int32_t *toks, float *x)
{
    const uint8_t *row = E + (size_t)toks[blockIdx.x] * rb;
    for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) x[(size_t)blockIdx.x * n + i] = wget<T>(row, i);
}

/* ------------------------------------------------------------ small ops */

__global__ void k_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps)
{
    const float *xr = x + (size_t)blockIdx.x * n;
    float *o = out + (size_t)blockIdx.x * n;
    double ss = 0.0;
    for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) ss += (double)xr[i] * xr[i];
    ss = block_sumd(ss);
    float sc = (float)(1.0 / sqrt(ss / n + eps));
    for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) o[i] = xr[i] * sc * w[i];
}

/* cs[b] = cos/sin of (pos0 + b) * inv_freq[i], times mscale, as model.c makes them. */
__global__ void k_rope_cs(float *cs, const double *inv_freq, uint32_t hd, uint32_t pos0, float mscale)
{
    uint32_t b = blockIdx.x;
    for (uint32_t i = threadIdx.x; i < hd / 2; i += blockDim.x) {
        double th = (double)(pos0 + b) * inv_freq[i];
        cs[(size_t)b * hd + 2 * i] = (float)cos(th) * mscale;
        cs[(size_t)b * hd + 2 * i + 1] = (float)sin(th) * mscale;
    }
}

/* Token b's n_heads heads of d values at x + b*n_heads*d, with cs + b*d. */
__global__ void k_rope(float *x, uint32_t n_heads, uint32_t d, const float *cs, int neox)
{
    uint32_t b = blockIdx.x, h = blockIdx.y;
    float *xh = x + ((size_t)b * n_heads + h) * d;
    const float *c = cs + (size_t)b * d;
    for (uint32_t i = threadIdx.x; i < d / 2; i += blockDim.x) {
        float co = c[2 * i], si = c[2 * i + 1];
        uint32_t p = neox ? i : 2 * i, q = neox ? i + d / 2 : 2 * i + 1;
        float x0 = xh[p], x1 = xh[q];
        xh[p] = x0 * co - x1 * si;
        xh[q] = x0 * si + x1 * co;
    }
}

__global__ void k_swiglu(float *g, const float *u, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

__global__ void k_add(float *x, const float *y, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

/* Index of the largest value (the first of equals; NaN never wins), one block. */
__global__ void k_argmax(const float *x, uint32_t n, int32_t *out)
{
    __shared__ float sv[1024];
    __shared__ int32_t si[1024];
    float bv = -INFINITY;
    int32_t bi = -1;
    for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
        float v = x[i];
        if (v > bv || (bi < 0 && v == v)) bv = v, bi = (int32_t)i;
    }
    sv[threadIdx.x] = bv;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (uint32_t s = blockDim.x / 2; s; s >>= 1) {
        if (threadIdx.x < s) {
            float ov = sv[threadIdx.x + s];
            int32_t oi = si[threadIdx.x + s];
            if (oi >= 0 && (si[threadIdx.x] < 0 || ov > sv[threadIdx.x] || (ov == sv[threadIdx.x] && oi < si[threadIdx.x])))
                sv[threadIdx.x] = ov, si[threadIdx.x] = oi;
        }
        __syncthreads();
    }
    if (!threadIdx.x) *out = si[0] < 0 ? 0 : si[0];
}

/* ------------------------------------------------------------ attention */

#define AT_THREADS 128

/* Split s of query b, head h: positions s*CHUNK .. min(+CHUNK, pos0+b+1).
 * part[(b, h, s)] = {max, sum of exp, sum of exp * v (head_dim)}. */
__global__ void k_attn_part(const float *q, const float *kc, const float *vc, float *part, uint32_t pos0,
                            uint32_t n_head, uint32_t n_head_kv, uint32_t hd, float scale, uint32_t n_split)
{
    __shared__ float qs[CL_GPU_MAX_HEAD_DIM], sc[CL_GPU_ATTN_CHUNK];
    uint32_t s = blockIdx.x, h = blockIdx.y, b = blockIdx.z, pos = pos0 + b, t0 = s * CL_GPU_ATTN_CHUNK;
    uint32_t kvd = n_head_kv * hd, kh = h / (n_head / n_head_kv), lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    float *pp = part + (((size_t)b * n_head + h) * n_split + s) * (hd + 2);
    if (t0 > pos) return; /* never read: the combine pass stops at the query's last split */
    uint32_t t1 = min(t0 + CL_GPU_ATTN_CHUNK, pos + 1), nt = t1 - t0;
    for (uint32_t d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = q[((size_t)b * n_head + h) * hd + d];
    __syncthreads();
    for (uint32_t t = w; t < nt; t += blockDim.x >> 5) {
        const float *kt = kc + (size_t)(t0 + t) * kvd + (size_t)kh * hd;
        float dot = 0.0f;
        for (uint32_t d = lane; d < hd; d += 32) dot += qs[d] * kt[d];
        dot = warp_sum(dot);
        if (!lane) sc[t] = dot * scale;
    }
    __syncthreads();
    float m = -INFINITY;
    for (uint32_t t = threadIdx.x; t < nt; t += blockDim.x) m = fmaxf(m, sc[t]);
    m = block_max(m);
    float l = 0.0f;
    for (uint32_t t = threadIdx.x; t < nt; t += blockDim.x) {
        float e = expf(sc[t] - m);
        sc[t] = e;
        l += e;
    }
    l = block_sum(l); /* its barriers also order the sc writes before the reads below */
    for (uint32_t d = threadIdx.x; d < hd; d += blockDim.x) {
        const float *vt = vc + (size_t)t0 * kvd + (size_t)kh * hd + d;
        float o = 0.0f;
        for (uint32_t t = 0; t < nt; t++) o += sc[t] * vt[(size_t)t * kvd];
        pp[2 + d] = o;
    }
    if (!threadIdx.x) pp[0] = m, pp[1] = l;
}

__global__ void k_attn_combine(const float *part, float *out, uint32_t pos0, uint32_t n_head, uint32_t hd,
                               uint32_t n_split)
{
    uint32_t h = blockIdx.x, b = blockIdx.y, ns = (pos0 + b) / CL_GPU_ATTN_CHUNK + 1, s;
    const float *pp = part + ((size_t)b * n_head + h) * n_split * (hd + 2);
    float M = -INFINITY, L = 0.0f;
    for (s = 0; s < ns; s++) M = fmaxf(M, pp[(size_t)s * (hd + 2)]);
    for (s = 0; s < ns; s++) L += pp[(size_t)s * (hd + 2) + 1] * expf(pp[(size_t)s * (hd + 2)] - M);
    for (uint32_t d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (s = 0; s < ns; s++) o += pp[(size_t)s * (hd + 2) + 2 + d] * expf(pp[(size_t)s * (hd + 2)] - M);
        out[((size_t)b * n_head + h) * hd + d] = o / L;
    }
}

/* ------------------------------------------------------------ context */

typedef struct dmat {
    const uint8_t *p;
    int type;
    uint32_t ne0, ne1;
    size_t rb;
} dmat;

typedef struct dlayer {
    dmat wq, wk, wv, wo, gate, up, down;
    const float *attn_norm, *ffn_norm, *bq, *bk, *bv, *qn, *kn;
} dlayer;

typedef struct cuda_ctx {
    int dev;
    char name[256];
    cudaStream_t st;
    uint8_t *ob; /* per-op scratch */
    size_t ocap;
    int loaded;
    cl_fwd_model M;
    cl_gpu_plan P;
    uint8_t *wbuf, *kvbuf, *abuf;
    dlayer *L;
    dmat embd, out;
    const float *out_norm;
    float *kc, *vc, *x, *xb, *q, *k, *v, *hb, *hb2, *ao, *cs, *part, *lg;
    int32_t *toks, *amax;
    double *invf;
    uint32_t last_nb;
} cuda_ctx;

static cl_status cu_err(cudaError_t e, const char *what)
{
    return cl_err(e == cudaErrorMemoryAllocation ? CL_ERR_NOMEM : CL_ERR_IO, "cuda: %s: %s (%s)", what,
                  cudaGetErrorString(e), cudaGetErrorName(e));
}

#define CK(call, what)                                                                                               \
    do {                                                                                                             \
        cudaError_t e_ = (call);                                                                                     \
        if (e_ != cudaSuccess) return cu_err(e_, what);                                                              \
    } while (0)

static void launch_mm(cuda_ctx *c, const dmat *W, const float *bias, const float *X, uint32_t nb, float *Y)
{
    if (nb <= MV_MAXB) {
        dim3 g((W->ne1 + MV_WARPS - 1) / MV_WARPS);
        TYPE_SWITCH(W->type, (k_matvec<T><<<g, MV_WARPS * 32, 0, c->st>>>(W->p, W->rb, W->ne0, W->ne1, bias, X, nb, Y)));
    } else {
        dim3 g((W->ne1 + GT - 1) / GT, (nb + GT - 1) / GT), t(16, 16);
        TYPE_SWITCH(W->type, (k_gemm<T><<<g, t, 0, c->st>>>(W->p, W->rb, W->ne0, W->ne1, bias, X, nb, Y)));
    }
}

static void launch_rmsnorm(cuda_ctx *c, float *out, const float *x, const float *w, uint32_t n, uint32_t rows,
                           float eps)
{
    if (rows) k_rmsnorm<<<rows, 256, 0, c->st>>>(out, x, w, n, eps);
}

static void launch_rope(cuda_ctx *c, float *x, uint32_t nb, uint32_t n_heads, uint32_t d, const float *cs, int neox)
{
    dim3 g(nb, n_heads);
    k_rope<<<g, d / 2 < 128 ? ((d / 2 + 31) / 32 * 32) : 128, 0, c->st>>>(x, n_heads, d, cs, neox);
}

static unsigned ew_blocks(size_t n)
{
    size_t b = (n + 255) / 256;
    return (unsigned)(b < 4096 ? (b ? b : 1) : 4096);
}

static void launch_attention(cuda_ctx *c, const float *q, const float *kc, const float *vc, float *part, float *out,
                             uint32_t nb, uint32_t pos0, uint32_t n_head, uint32_t n_head_kv, uint32_t hd,
                             float scale, uint32_t n_split)
{
    dim3 g((pos0 + nb - 1) / CL_GPU_ATTN_CHUNK + 1, n_head, nb), g2(n_head, nb);
    k_attn_part<<<g, AT_THREADS, 0, c->st>>>(q, kc, vc, part, pos0, n_head, n_head_kv, hd, scale, n_split);
    k_attn_combine<<<g2, hd < 128 ? (hd + 31) / 32 * 32 : 128, 0, c->st>>>(part, out, pos0, n_head, hd, n_split);
}

/* ------------------------------------------------------------ per-op path */

/* The scratch buffer, at least `bytes` long (NULL when it cannot grow). */
static uint8_t *scratch(cuda_ctx *c, size_t bytes)
{
    if (bytes <= c->ocap) return c->ob;
    cudaFree(c->ob);
    c->ob = NULL;
    c->ocap = 0;
    if (cudaMalloc((void **)&c->ob, bytes) != cudaSuccess) return NULL;
    c->ocap = bytes;
    return c->ob;
}

static size_t al(size_t n) { return (n + 255) & ~(size_t)255; }

static void fill_nan(float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = NAN;
}

static void cu_matmul(void *ctx, const cl_tensor *W, const float *bias, const float *X, uint32_t nb, float *Y)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    size_t K = W->ne[0], R = W->ne[1], wb = al(W->n_bytes), bb = bias ? al(R * 4) : 0, xb = al(K * nb * 4);
    uint8_t *s = scratch(c, wb + bb + xb + R * nb * 4);
    dmat d = {s, W->type, (uint32_t)K, (uint32_t)R, W->n_bytes / R};
    if (!s || cudaMemcpyAsync(s, W->data, W->n_bytes, cudaMemcpyHostToDevice, c->st) != cudaSuccess ||
        (bias && cudaMemcpyAsync(s + wb, bias, R * 4, cudaMemcpyHostToDevice, c->st) != cudaSuccess) ||
        cudaMemcpyAsync(s + wb + bb, X, K * nb * 4, cudaMemcpyHostToDevice, c->st) != cudaSuccess) {
        fill_nan(Y, R * nb);
        return;
    }
    launch_mm(c, &d, bias ? (const float *)(s + wb) : NULL, (const float *)(s + wb + bb), nb,
              (float *)(s + wb + bb + xb));
    if (cudaMemcpyAsync(Y, s + wb + bb + xb, R * nb * 4, cudaMemcpyDeviceToHost, c->st) != cudaSuccess ||
        cudaStreamSynchronize(c->st) != cudaSuccess)
        fill_nan(Y, R * nb);
}

static void cu_rmsnorm(void *ctx, float *out, const float *x, const float *w, uint32_t n, uint32_t rows, float eps)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    size_t xb = al((size_t)n * rows * 4);
    uint8_t *s = scratch(c, xb + al(n * 4));
    if (!s || cudaMemcpyAsync(s, x, (size_t)n * rows * 4, cudaMemcpyHostToDevice, c->st) != cudaSuccess ||
        cudaMemcpyAsync(s + xb, w, n * 4, cudaMemcpyHostToDevice, c->st) != cudaSuccess) {
        fill_nan(out, (size_t)n * rows);
        return;
    }
    launch_rmsnorm(c, (float *)s, (const float *)s, (const float *)(s + xb), n, rows, eps);
    if (cudaMemcpyAsync(out, s, (size_t)n * rows * 4, cudaMemcpyDeviceToHost, c->st) != cudaSuccess ||
        cudaStreamSynchronize(c->st) != cudaSuccess)
        fill_nan(out, (size_t)n * rows);
}

static void cu_rope(void *ctx, float *x, uint32_t n_heads, uint32_t hd, const float *cs, int neox)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    size_t xb = al((size_t)n_heads * hd * 4);
    uint8_t *s = scratch(c, xb + al(hd * 4));
    if (!s || cudaMemcpyAsync(s, x, (size_t)n_heads * hd * 4, cudaMemcpyHostToDevice, c->st) != cudaSuccess ||
        cudaMemcpyAsync(s + xb, cs, hd * 4, cudaMemcpyHostToDevice, c->st) != cudaSuccess) {
        fill_nan(x, (size_t)n_heads * hd);
        return;
    }
    launch_rope(c, (float *)s, 1, n_heads, hd, (const float *)(s + xb), neox);
    if (cudaMemcpyAsync(x, s, (size_t)n_heads * hd * 4, cudaMemcpyDeviceToHost, c->st) != cudaSuccess ||
        cudaStreamSynchronize(c->st) != cudaSuccess)
        fill_nan(x, (size_t)n_heads * hd);
}

static void cu_swiglu(void *ctx, float *g, const float *u, size_t n)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    size_t gb = al(n * 4);
    uint8_t *s = scratch(c, 2 * gb);
    if (!s || cudaMemcpyAsync(s, g, n * 4, cudaMemcpyHostToDevice, c->st) != cudaSuccess ||
        cudaMemcpyAsync(s + gb, u, n * 4, cudaMemcpyHostToDevice, c->st) != cudaSuccess) {
        fill_nan(g, n);
        return;
    }
    k_swiglu<<<ew_blocks(n), 256, 0, c->st>>>((float *)s, (const float *)(s + gb), n);
    if (cudaMemcpyAsync(g, s, n * 4, cudaMemcpyDeviceToHost, c->st) != cudaSuccess ||
        cudaStreamSynchronize(c->st) != cudaSuccess)
        fill_nan(g, n);
}

static cl_status cu_attention(void *ctx, const cl_attn_args *a)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    size_t hd = a->head_dim, qn = (size_t)a->nb * a->n_head * hd, kvn = ((size_t)a->pos0 + a->nb) * a->n_head_kv * hd;
    uint32_t ns = (a->pos0 + a->nb - 1) / CL_GPU_ATTN_CHUNK + 1;
    size_t pn = (size_t)a->nb * a->n_head * ns * (hd + 2);
    size_t o1 = al(qn * 4), o2 = o1 + al(kvn * 4), o3 = o2 + al(kvn * 4), o4 = o3 + al(pn * 4);
    uint8_t *s;
    if (hd > CL_GPU_MAX_HEAD_DIM || hd % 2 || !a->n_head_kv || a->n_head % a->n_head_kv)
        return cl_err(CL_ERR_UNSUPPORTED, "cuda: attention with head size %zu is not supported", hd);
    if (a->kv_f16 || a->kv_q8) /* the device cache (whole-step path) is F32; this per-op path takes host floats only */
        return cl_err(CL_ERR_UNSUPPORTED, "cuda: attention over an F16 or Q8_0 KV cache is not supported (F32 only)");
    if (!(s = scratch(c, o4 + al(qn * 4))))
        return cl_err(CL_ERR_NOMEM, "cuda: out of device memory for attention (%zu positions)", kvn);
    CK(cudaMemcpyAsync(s, a->q, qn * 4, cudaMemcpyHostToDevice, c->st), "attention inputs");
    CK(cudaMemcpyAsync(s + o1, a->kcache, kvn * 4, cudaMemcpyHostToDevice, c->st), "attention inputs");
    CK(cudaMemcpyAsync(s + o2, a->vcache, kvn * 4, cudaMemcpyHostToDevice, c->st), "attention inputs");
    launch_attention(c, (const float *)s, (const float *)(s + o1), (const float *)(s + o2), (float *)(s + o3),
                     (float *)(s + o4), a->nb, a->pos0, a->n_head, a->n_head_kv, (uint32_t)hd, a->scale, ns);
    CK(cudaMemcpyAsync(a->out, s + o4, qn * 4, cudaMemcpyDeviceToHost, c->st), "attention output");
    CK(cudaStreamSynchronize(c->st), "attention");
    return CL_OK;
}

/* ------------------------------------------------------------ whole-step path */

static void unload(cuda_ctx *c)
{
    cudaFree(c->wbuf);
    cudaFree(c->kvbuf);
    cudaFree(c->abuf);
    free(c->L);
    c->wbuf = c->kvbuf = c->abuf = NULL;
    c->L = NULL;
    c->loaded = 0;
    c->last_nb = 0;
}

static cl_status cu_load(void *ctx, const cl_fwd_model *m)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    size_t n, i, free_b = 0, total_b = 0;
    const cl_tensor **list = NULL;
    uint64_t *off = NULL, o = 0;
    cl_status s;
    unload(c);
    if ((s = cl_gpu_plan_make(m, &c->P))) return s;
    CK(cudaMemGetInfo(&free_b, &total_b), "reading free device memory");
    if ((s = cl_gpu_plan_check(&c->P, free_b, c->name))) return s;
    n = cl_gpu_tensors(m, NULL, 0);
    list = (const cl_tensor **)malloc(n * sizeof *list);
    off = (uint64_t *)malloc(n * sizeof *off);
    c->L = (dlayer *)calloc(m->n_layer, sizeof *c->L);
    if (!list || !off || !c->L) {
        s = cl_err(CL_ERR_NOMEM, "cuda: out of host memory");
        goto fail;
    }
    cl_gpu_tensors(m, list, n);
    for (i = 0; i < n; i++) off[i] = o, o += cl_gpu_align(list[i]->n_bytes);
    {
        cudaError_t e;
        if ((e = cudaMalloc((void **)&c->wbuf, c->P.weights)) != cudaSuccess ||
            (e = cudaMalloc((void **)&c->kvbuf, c->P.kv)) != cudaSuccess ||
            (e = cudaMalloc((void **)&c->abuf, c->P.act + c->P.attn + c->P.logits)) != cudaSuccess) {
            s = cl_err(CL_ERR_NOMEM,
                       "cuda: cannot allocate %.1f MiB on %s (%s): use a shorter context or CAIRN_GPU=0",
                       c->P.total / 1048576.0, c->name, cudaGetErrorString(e));
            cudaGetLastError();
            goto fail;
        }
        for (i = 0; i < n; i++)
            if ((e = cudaMemcpy(c->wbuf + off[i], list[i]->data, list[i]->n_bytes, cudaMemcpyHostToDevice)) !=
                cudaSuccess) {
                s = cu_err(e, "uploading the weights");
                goto fail;
            }
    }
    {
        /* device address of tensor t (NULL for NULL) */
#define DEV(t) (dev_of(list, off, n, c->wbuf, (t)))
        auto dev_of = [](const cl_tensor **lst, const uint64_t *of, size_t cnt, uint8_t *base,
                         const cl_tensor *t) -> const uint8_t * {
            if (!t) return NULL;
            for (size_t j = 0; j < cnt; j++)
                if (lst[j] == t) return base + of[j];
            return NULL;
        };
        auto mat = [&](const cl_tensor *t) -> dmat {
            dmat d = {DEV(t), t->type, (uint32_t)t->ne[0], (uint32_t)t->ne[1], t->n_bytes / t->ne[1]};
            return d;
        };
        c->embd = mat(m->embd);
        c->out = mat(m->out);
        c->out_norm = (const float *)DEV(m->out_norm);
        for (uint32_t l = 0; l < m->n_layer; l++) {
            const cl_fwd_layer *S = &m->layers[l];
            dlayer *D = &c->L[l];
            D->wq = mat(S->wq), D->wk = mat(S->wk), D->wv = mat(S->wv), D->wo = mat(S->wo);
            D->gate = mat(S->gate), D->up = mat(S->up), D->down = mat(S->down);
            D->attn_norm = (const float *)DEV(S->attn_norm), D->ffn_norm = (const float *)DEV(S->ffn_norm);
            D->bq = (const float *)DEV(S->bq), D->bk = (const float *)DEV(S->bk), D->bv = (const float *)DEV(S->bv);
            D->qn = (const float *)DEV(S->q_norm), D->kn = (const float *)DEV(S->k_norm);
        }
#undef DEV
    }
    {
        uint64_t B = c->P.max_batch, E = m->n_embd, qd = (uint64_t)m->n_head * m->head_dim,
                 kvd = (uint64_t)m->n_head_kv * m->head_dim, F = m->n_ff;
        float *f = (float *)c->abuf;
        c->kc = (float *)c->kvbuf;
        c->vc = c->kc + (size_t)m->n_layer * m->n_ctx * kvd;
        c->x = f, f += B * E;
        c->xb = f, f += B * E;
        c->q = f, f += B * qd;
        c->ao = f, f += B * qd;
        c->k = f, f += B * kvd;
        c->v = f, f += B * kvd;
        c->hb = f, f += B * F;
        c->hb2 = f, f += B * F;
        c->cs = f;
        c->toks = (int32_t *)(c->abuf + cl_gpu_align(B * (2 * E + 2 * qd + 2 * kvd + 2 * F + m->head_dim) * 4));
        c->invf = (double *)((uint8_t *)c->toks + cl_gpu_align(B * 4));
        c->part = (float *)(c->abuf + c->P.act);
        c->lg = (float *)(c->abuf + c->P.act + c->P.attn);
        c->amax = (int32_t *)((uint8_t *)c->lg + cl_gpu_align((uint64_t)CL_GPU_LOGIT_ROWS * m->n_vocab * 4));
        cudaError_t e = cudaMemcpy(c->invf, m->inv_freq, m->head_dim / 2 * sizeof(double), cudaMemcpyHostToDevice);
        if (e != cudaSuccess) {
            s = cu_err(e, "uploading RoPE frequencies");
            goto fail;
        }
    }
    { /* the uploads ran on the default stream; forward runs on c->st */
        cudaError_t e = cudaDeviceSynchronize();
        if (e != cudaSuccess) {
            s = cu_err(e, "uploading the model");
            goto fail;
        }
    }
    c->M = *m;
    c->M.layers = NULL;
    c->M.inv_freq = NULL;
    c->M.embd = c->M.out = c->M.out_norm = NULL;
    c->loaded = 1;
    free(list);
    free(off);
    return CL_OK;
fail:
    free(list);
    free(off);
    unload(c);
    return s;
}

/* One batch of nb <= max_batch tokens at positions pos... */
static cl_status step(cuda_ctx *c, const cl_token *toks, uint32_t nb, uint32_t pos, float *logits, int all)
{
    const cl_fwd_model *M = &c->M;
    uint32_t hd = M->head_dim, kvd = M->n_head_kv * hd, E = M->n_embd, V = M->n_vocab;
    float scale = 1.0f / sqrtf((float)hd);
    CK(cudaMemcpyAsync(c->toks, toks, nb * sizeof(int32_t), cudaMemcpyHostToDevice, c->st), "token ids");
    TYPE_SWITCH(c->embd.type, (k_embed<T><<<nb, 256, 0, c->st>>>(c->embd.p, c->embd.rb, E, c->toks, c->x)));
    k_rope_cs<<<nb, 64, 0, c->st>>>(c->cs, c->invf, hd, pos, M->rope_mscale);
    for (uint32_t l = 0; l < M->n_layer; l++) {
        const dlayer *L = &c->L[l];
        float *kc = c->kc + (size_t)l * M->n_ctx * kvd, *vc = c->vc + (size_t)l * M->n_ctx * kvd;
        launch_rmsnorm(c, c->xb, c->x, L->attn_norm, E, nb, M->eps);
        launch_mm(c, &L->wq, L->bq, c->xb, nb, c->q);
        launch_mm(c, &L->wk, L->bk, c->xb, nb, c->k);
        launch_mm(c, &L->wv, L->bv, c->xb, nb, c->v);
        if (L->qn) launch_rmsnorm(c, c->q, c->q, L->qn, hd, nb * M->n_head, M->eps);
        if (L->kn) launch_rmsnorm(c, c->k, c->k, L->kn, hd, nb * M->n_head_kv, M->eps);
        launch_rope(c, c->q, nb, M->n_head, hd, c->cs, M->neox);
        launch_rope(c, c->k, nb, M->n_head_kv, hd, c->cs, M->neox);
        CK(cudaMemcpyAsync(kc + (size_t)pos * kvd, c->k, (size_t)nb * kvd * 4, cudaMemcpyDeviceToDevice, c->st), "KV");
        CK(cudaMemcpyAsync(vc + (size_t)pos * kvd, c->v, (size_t)nb * kvd * 4, cudaMemcpyDeviceToDevice, c->st), "KV");
        launch_attention(c, c->q, kc, vc, c->part, c->ao, nb, pos, M->n_head, M->n_head_kv, hd, scale, c->P.n_split);
        launch_mm(c, &L->wo, NULL, c->ao, nb, c->xb);
        k_add<<<ew_blocks((size_t)nb * E), 256, 0, c->st>>>(c->x, c->xb, (size_t)nb * E);
        launch_rmsnorm(c, c->xb, c->x, L->ffn_norm, E, nb, M->eps);
        launch_mm(c, &L->gate, NULL, c->xb, nb, c->hb);
        launch_mm(c, &L->up, NULL, c->xb, nb, c->hb2);
        k_swiglu<<<ew_blocks((size_t)nb * M->n_ff), 256, 0, c->st>>>(c->hb, c->hb2, (size_t)nb * M->n_ff);
        launch_mm(c, &L->down, NULL, c->hb, nb, c->xb);
        k_add<<<ew_blocks((size_t)nb * E), 256, 0, c->st>>>(c->x, c->xb, (size_t)nb * E);
    }
    c->last_nb = nb;
    if (logits) {
        uint32_t r0 = all ? 0 : nb - 1;
        for (; r0 < nb; r0 += CL_GPU_LOGIT_ROWS) {
            uint32_t rows = nb - r0 < CL_GPU_LOGIT_ROWS ? nb - r0 : CL_GPU_LOGIT_ROWS;
            launch_rmsnorm(c, c->xb, c->x + (size_t)r0 * E, c->out_norm, E, rows, M->eps);
            launch_mm(c, &c->out, NULL, c->xb, rows, c->lg);
            CK(cudaMemcpyAsync(logits + (all ? (size_t)r0 * V : 0), c->lg, (size_t)rows * V * 4,
                               cudaMemcpyDeviceToHost, c->st),
               "copying the logits");
        }
    }
    CK(cudaStreamSynchronize(c->st), "the forward step");
    CK(cudaGetLastError(), "a forward kernel");
    return CL_OK;
}

static cl_status cu_forward(void *ctx, const cl_token *toks, uint32_t n, uint32_t pos, float *logits, int all)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    uint32_t i;
    if (!c->loaded) return cl_err(CL_ERR_INVALID, "cuda: no model is loaded on the device");
    if (!n || pos >= c->M.n_ctx || n > c->M.n_ctx - pos)
        return cl_err(CL_ERR_RANGE, "cuda: positions %u..%u are past the context (%u)", pos, pos + n - 1, c->M.n_ctx);
    for (i = 0; i < n; i += c->P.max_batch) {
        uint32_t nb = n - i < c->P.max_batch ? n - i : c->P.max_batch;
        int last = i + nb == n;
        float *lg = all ? logits + (size_t)i * c->M.n_vocab : last ? logits : NULL;
        cl_status s = step(c, toks + i, nb, pos + i, lg, all);
        if (s) return s;
    }
    return CL_OK;
}

static cl_status cu_hidden_row(void *ctx, float *out)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!c->loaded || !c->last_nb) {
        memset(out, 0, (c->loaded ? c->M.n_embd : 0) * sizeof(float));
        return c->loaded ? CL_OK : cl_err(CL_ERR_INVALID, "cuda: no model is loaded on the device");
    }
    CK(cudaMemcpy(out, c->x + (size_t)(c->last_nb - 1) * c->M.n_embd, c->M.n_embd * 4, cudaMemcpyDeviceToHost),
       "copying the hidden state");
    return CL_OK;
}

static cl_status cu_kv_fill(void *ctx, uint32_t n_have, uint32_t n_to)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    size_t kvd = (size_t)c->M.n_head_kv * c->M.head_dim;
    if (!c->loaded) return cl_err(CL_ERR_INVALID, "cuda: no model is loaded on the device");
    if (!n_have || n_have > n_to || n_to > c->M.n_ctx)
        return cl_err(CL_ERR_RANGE, "cuda: cannot fill the cache from %u to %u positions (context %u)", n_have, n_to,
                      c->M.n_ctx);
    for (uint32_t l = 0; l < c->M.n_layer; l++)
        for (int kv = 0; kv < 2; kv++) {
            float *base = (kv ? c->vc : c->kc) + (size_t)l * c->M.n_ctx * kvd;
            for (uint32_t p = n_have; p < n_to;) {
                uint32_t src = p % n_have, len = n_have - src < n_to - p ? n_have - src : n_to - p;
                CK(cudaMemcpyAsync(base + (size_t)p * kvd, base + (size_t)src * kvd, len * kvd * 4,
                                   cudaMemcpyDeviceToDevice, c->st),
                   "filling the KV cache");
                p += len;
            }
        }
    CK(cudaStreamSynchronize(c->st), "filling the KV cache");
    return CL_OK;
}

/* ------------------------------------------------------------ table */

static cl_status cu_set_threads(void *ctx, int n)
{
    (void)ctx;
    (void)n;
    return CL_OK; /* the host threads do not matter to the device */
}
static int cu_threads(void *ctx)
{
    (void)ctx;
    return 1;
}

static void cu_free(void *ctx)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!c) return;
    unload(c);
    cudaFree(c->ob);
    if (c->st) cudaStreamDestroy(c->st);
    free(c);
}

static const cl_backend_i cuda_iface = {
    CL_BACKEND_VERSION, "cuda",  cu_free,   cu_set_threads, cu_threads,    cu_matmul, cu_rmsnorm,
    cu_rope,            cu_attention, cu_swiglu, cu_load,   cu_forward,    cu_hidden_row, cu_kv_fill,
    NULL,               NULL, /* no fused per-op entries: the whole-step path is what runs */
};

/* Device 0 when a driver and a device of compute capability 8.0 or newer
 * are present (the kernels are built for sm_80 and sm_90). */
static cl_status pick_device(int *dev, char *name, size_t name_len)
{
    int n = 0;
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return cl_err(CL_ERR_UNSUPPORTED, "no usable CUDA driver or device (%s)", cudaGetErrorString(e));
    }
    if (n < 1) return cl_err(CL_ERR_UNSUPPORTED, "no CUDA device");
    if ((e = cudaGetDeviceProperties(&p, 0)) != cudaSuccess)
        return cl_err(CL_ERR_UNSUPPORTED, "CUDA device 0: %s", cudaGetErrorString(e));
    if (p.major < 8)
        return cl_err(CL_ERR_UNSUPPORTED, "CUDA device 0 (%s) has compute capability %d.%d; the kernels need 8.0+",
                      p.name, p.major, p.minor);
    if ((e = cudaSetDevice(0)) != cudaSuccess) return cu_err(e, "selecting device 0");
    *dev = 0;
    snprintf(name, name_len, "%.200s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor, p.totalGlobalMem / 1073741824.0);
    return CL_OK;
}

extern "C" int cl_gpu_compiled(void) { return 1; }

extern "C" cl_status cl_backend_cuda_new(cl_backend *out)
{
    cuda_ctx *c;
    cl_status s;
    cudaError_t e;
    out->i = NULL;
    out->ctx = NULL;
    if (!(c = (cuda_ctx *)calloc(1, sizeof *c))) return cl_err(CL_ERR_NOMEM, "cuda: out of memory");
    if ((s = pick_device(&c->dev, c->name, sizeof c->name))) {
        free(c);
        return s;
    }
    if ((e = cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking)) != cudaSuccess) {
        free(c);
        return cu_err(e, "creating a stream");
    }
    out->i = &cuda_iface;
    out->ctx = c;
    return CL_OK;
}

extern "C" cl_status cl_gpu_host_dequant(int type, const void *row, uint32_t n, float *out)
{
    const uint8_t *r = (const uint8_t *)row;
    int done = 0;
    TYPE_SWITCH(type, (done = 1); for (uint32_t i = 0; i < n; i++) out[i] = wget<T>(r, i));
    return done ? CL_OK : cl_err(CL_ERR_UNSUPPORTED, "cuda: type %d has no GPU kernel", type);
}

extern "C" cl_status cl_gpu_argmax(const float *x, uint32_t n, uint32_t *out)
{
    int dev;
    char name[256];
    float *d = NULL;
    int32_t r = 0;
    cl_status s;
    cudaError_t e;
    *out = 0;
    if (!n) return cl_err(CL_ERR_INVALID, "argmax of nothing");
    if ((s = pick_device(&dev, name, sizeof name))) return s;
    if ((e = cudaMalloc((void **)&d, (size_t)n * 4 + 256)) != cudaSuccess) return cu_err(e, "argmax buffer");
    if ((e = cudaMemcpy(d, x, (size_t)n * 4, cudaMemcpyHostToDevice)) == cudaSuccess) {
        k_argmax<<<1, 1024>>>(d, n, (int32_t *)((uint8_t *)d + al((size_t)n * 4)));
        e = cudaMemcpy(&r, (uint8_t *)d + al((size_t)n * 4), 4, cudaMemcpyDeviceToHost);
    }
    cudaFree(d);
    if (e != cudaSuccess) return cu_err(e, "argmax");
    *out = (uint32_t)r;
    return CL_OK;
}

extern "C" cl_status cl_gpu_copy_gbps(size_t bytes, int reps, double *gbps, char *name, size_t name_len)
{
    int dev;
    char nm[256];
    void *a = NULL, *b = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    float best = 0.0f;
    cl_status s;
    cudaError_t e;
    *gbps = 0.0;
    if ((s = pick_device(&dev, nm, sizeof nm))) return s;
    if (name && name_len) snprintf(name, name_len, "%s", nm);
    if (reps < 1) reps = 1;
    if ((e = cudaMalloc(&a, bytes)) != cudaSuccess || (e = cudaMalloc(&b, bytes)) != cudaSuccess) {
        cudaFree(a);
        return cu_err(e, "copy-bandwidth buffers");
    }
    cudaMemset(a, 1, bytes);
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice); /* warm-up */
    for (int r = 0; r < reps; r++) {
        float ms = 0.0f;
        cudaEventRecord(e0);
        cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        cudaEventElapsedTime(&ms, e0, e1);
        if (ms > 0 && (best == 0.0f || ms < best)) best = ms;
    }
    e = cudaGetLastError();
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(a);
    cudaFree(b);
    if (e != cudaSuccess) return cu_err(e, "measuring copy bandwidth");
    if (best > 0) *gbps = 2.0 * (double)bytes / (best * 1e-3) / 1e9;
    return CL_OK;
}
