/* gpu.h — host-side logic of the CUDA backend (llm/cuda/), shared by the
 * device code (cuda.cu) and the tests, and built with or without CUDA:
 * the choice of backend (CAIRN_GPU), the list of tensors uploaded and their
 * offsets in the one device weight buffer, and the memory plan (every
 * device byte a model needs, sized up front from the model and settings). */
#ifndef CAIRN_LLM_GPU_H
#define CAIRN_LLM_GPU_H

#include "../backend.h"

#define CL_GPU_ALIGN 256u      /* offset alignment of each uploaded tensor */
#define CL_GPU_MAX_BATCH 256u  /* tokens per device forward batch */
#define CL_GPU_ATTN_CHUNK 256u /* positions per flash-decoding split */
#define CL_GPU_LOGIT_ROWS 32u  /* rows of logits computed per head pass */
#define CL_GPU_MAX_HEAD_DIM 256u

/* CAIRN_GPU: unset, "" or "auto": the GPU when one is usable, else the CPU
 * (said once on stderr); "0", "off" or "cpu": the CPU; "1", "on" or
 * "cuda": the GPU or an error. */
typedef enum cl_gpu_mode { CL_GPU_AUTO = 0, CL_GPU_OFF = 1, CL_GPU_ON = 2 } cl_gpu_mode;
cl_status cl_gpu_mode_parse(const char *s, cl_gpu_mode *out);

/* The distinct tensors uploaded, in upload order (the output head once
 * when it is tied to the embedding): fills list[0..cap) and returns the
 * count (which may exceed cap: call again with more room). */
size_t cl_gpu_tensors(const cl_fwd_model *m, const cl_tensor **list, size_t cap);

typedef struct cl_gpu_plan {
    uint64_t weights;  /* the weight buffer: each tensor's bytes rounded up to CL_GPU_ALIGN */
    uint64_t kv;       /* K and V caches, F32: 2 * n_layer * n_ctx * n_head_kv * head_dim * 4 */
    uint64_t act;      /* activations for max_batch tokens, token ids, RoPE tables */
    uint64_t attn;     /* flash-decoding partial results: max_batch * n_head * n_split * (head_dim + 2) * 4 */
    uint64_t logits;   /* CL_GPU_LOGIT_ROWS rows of n_vocab */
    uint64_t total;    /* the sum */
    uint32_t max_batch, n_split;
} cl_gpu_plan;

/* Plans a model on the device: CL_ERR_UNSUPPORTED for shapes the kernels do
 * not take (head_dim over CL_GPU_MAX_HEAD_DIM or odd, unsupported types),
 * CL_ERR_RANGE on overflow. */
cl_status cl_gpu_plan_make(const cl_fwd_model *m, cl_gpu_plan *p);

/* Offset of the i-th tensor of cl_gpu_tensors in the weight buffer. */
uint64_t cl_gpu_align(uint64_t n);

/* CL_OK when the plan fits in free_bytes with a 5% + 256 MiB margin
 * (driver, cuBLAS-free kernels' own needs); else CL_ERR_NOMEM with a
 * message giving the sizes. */
cl_status cl_gpu_plan_check(const cl_gpu_plan *p, uint64_t free_bytes, const char *device);

/* 1 when this build has the CUDA backend (cuda.cu), 0 otherwise (none.c):
 * a build without it runs on the CPU without a word. */
int cl_gpu_compiled(void);

/* The one line said when the engine falls back to the CPU, once per process
 * (returns 1 when this call printed it). */
int cl_gpu_say_fallback(const char *why);

/* Device-to-device copy bandwidth (read + write bytes per second / 1e9),
 * best of reps, over two buffers of `bytes`; CL_ERR_UNSUPPORTED without a
 * device. Names the device in name[0..name_len). */
cl_status cl_gpu_copy_gbps(size_t bytes, int reps, double *gbps, char *name, size_t name_len);

/* Index of the largest of x[0..n) computed on the device (the first of
 * equal values; NaN never wins): the GPU's greedy sampling, for the tests. */
cl_status cl_gpu_argmax(const float *x, uint32_t n, uint32_t *out);

/* The device kernels' element dequantisation (cuda.cu's wget), run on the
 * host over a row of n values: lets the normal suite check the GPU's
 * reading of every block layout against quant.c without a GPU.
 * CL_ERR_UNSUPPORTED in a build without CUDA. */
cl_status cl_gpu_host_dequant(int type, const void *row, uint32_t n, float *out);

#endif
