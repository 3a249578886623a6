/*
 * faiss_simd.cpp — a vectorised inner-product distance computer for the
 * storage of cairn's HNSW index, cairn's own HNSW search over it, and
 * cairn's own HNSW insert into it (the same graph as FAISS's, cheaper:
 * the section "cairn's HNSW insert").
 *
 * Debian's libfaiss (1.7.3) is built for generic x86-64: its
 * fvec_inner_product is the scalar reference loop, and 88% of an HNSW
 * build's CPU time went there (perf, docs/benchmarks.md). HNSW reaches its
 * vectors only through storage->get_distance_computer(), so this file
 * swaps the IndexFlatIP storage of an IndexHNSWFlat for a subclass whose
 * distance computer uses AVX2+FMA when the CPU has them (checked at run
 * time; otherwise FAISS's own fvec_inner_product). The stored bytes are the
 * same, and write_index sees an IndexFlatIP, so files are unchanged.
 * Works the same over an upstream libfaiss_c.
 *
 * Search (cr_faiss_search): a query walks the graph memory-bound
 * (~8,000 vectors of 1.5 KB at efSearch 128 on 100k vectors, perf: most of
 * a hybrid /v1/search). The storage therefore also keeps, in memory only,
 * an int8 copy of every vector (one scale per vector: x ~ scale * code,
 * code in -127..127), 4x fewer bytes. The walk (greedy descent through the
 * upper layers, then the usual best-first search of layer 0 with a result
 * set of efSearch) scores by the int8 copy against the query rounded once
 * to int16 (one scale per query, so a walk distance is an exact integer dot
 * product: vpmaddwd, 16 dimensions in 3 instructions; CAIRN_HNSW_WALK=float
 * at open scores against the float query instead, as before), with
 * the next neighbours' codes prefetched while one is scored (the rest of
 * each batch into L2 at once, the next candidate's neighbour list too), and
 * a pooled visited table of one bit per vector (no allocation per query). The efSearch
 * results are then re-scored exactly from the float vectors and the best k
 * returned, so scores are the exact inner products and the order is exact
 * among the candidates (only those that can still reach the best k are
 * re-scored, by an error bound: the same answer); the int8 copy and the
 * int16 query only decide which candidates are looked at (recall measured in
 * docs/benchmarks.md). The file format is
 * unchanged: the copy is derived when an index is loaded or built.
 *
 * A flat index (an IndexIDMap2 over IndexFlatIP below hnsw_threshold)
 * gets the same storage and its own search (flat_search): every vector
 * scored from the int8 copy, only those that can still be among the best
 * k re-scored from the floats. The same answer as the exhaustive float
 * scan, with a quarter of its bytes streamed.
 */
#include <faiss/c_api/Index_c.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/utils/distances.h>
#include <faiss/utils/random.h>

#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <queue>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <vector>

namespace {

typedef float (*ip_fn)(const float*, const float*, size_t);

__attribute__((target("avx2,fma"))) float ip_avx2(const float* x, const float* y, size_t d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= d; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < d; i++) r += x[i] * y[i];
    return r;
}

ip_fn pick_ip() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ip_avx2;
    return faiss::fvec_inner_product;
}

const ip_fn ip = pick_ip();

struct SimdIPDis : faiss::FlatCodesDistanceComputer {
    size_t d;
    const float* b;
    const float* q = nullptr;
    SimdIPDis(const faiss::IndexFlat& st)
            : FlatCodesDistanceComputer(st.codes.data(), st.code_size),
              d(st.d), b(st.get_xb()) {}
    void set_query(const float* x) override { q = x; }
    float distance_to_code(const uint8_t* code) override {
        return ip(q, reinterpret_cast<const float*>(code), d);
    }
    float symmetric_dis(idx_t i, idx_t j) override { return ip(b + j * d, b + i * d, d); }
};

/* ---- the int8 copy: x[i] ~ scale * code[i] */

typedef float (*ip8_fn)(const float*, const int8_t*, size_t);

/* 8 codes widened to floats straight from memory (one vpmovsxbd). */
__attribute__((target("avx2,fma"))) inline __m256 load8(const int8_t* c) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c))));
}

/* The walk's kernel (~8,000 calls a query). a0 sums the first 8 of every
 * 16 codes, a1 the second 8, in the same order whatever the unrolling, so
 * the score's bits do not depend on it (the walk's choices stay the same). */
__attribute__((target("avx2,fma"), always_inline)) inline float ip8_body(const float* q,
                                                                         const int8_t* c, size_t d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t i = 0;
#pragma GCC unroll 12
    for (; i + 32 <= d; i += 32) {
        a0 = _mm256_fmadd_ps(load8(c + i), _mm256_loadu_ps(q + i), a0);
        a1 = _mm256_fmadd_ps(load8(c + i + 8), _mm256_loadu_ps(q + i + 8), a1);
        a0 = _mm256_fmadd_ps(load8(c + i + 16), _mm256_loadu_ps(q + i + 16), a0);
        a1 = _mm256_fmadd_ps(load8(c + i + 24), _mm256_loadu_ps(q + i + 24), a1);
    }
    for (; i + 16 <= d; i += 16) {
        a0 = _mm256_fmadd_ps(load8(c + i), _mm256_loadu_ps(q + i), a0);
        a1 = _mm256_fmadd_ps(load8(c + i + 8), _mm256_loadu_ps(q + i + 8), a1);
    }
    __m256 s = _mm256_add_ps(a0, a1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < d; i++) r += q[i] * (float)c[i];
    return r;
}

__attribute__((target("avx2,fma"))) float ip8_avx2(const float* q, const int8_t* c, size_t d) {
    /* 384 (the default embedders' size) unrolled whole: no loop overhead */
    return d == 384 ? ip8_body(q, c, 384) : ip8_body(q, c, d);
}

float ip8_ref(const float* q, const int8_t* c, size_t d) {
    float r = 0;
    for (size_t i = 0; i < d; i++) r += q[i] * (float)c[i];
    return r;
}

const ip8_fn ip8 = ip == ip_avx2 ? ip8_avx2 : ip8_ref;

/* ---- the integer walk: the query rounded once to int16 (q ~ step *
 * q16), so a walk distance is an integer dot product of int16 by int8,
 * exact in int32 (q16's range keeps every partial sum in it, see
 * q16_max), the same whichever kernel computes it. */

typedef int32_t (*ip16_fn)(const int16_t*, const int8_t*, size_t);

/* The largest |q16| for d dimensions: 127 * d * q16_max fits in int32,
 * so no sum of products, partial or whole, can overflow. */
inline int32_t q16_max(size_t d) {
    int64_t m = (int64_t)INT32_MAX / (127 * (int64_t)(d ? d : 1));
    return (int32_t)std::min<int64_t>(m, 32767);
}

/* 16 codes widened to int16 (one vpmovsxbw from memory) times 16 query
 * words, summed in pairs to 8 int32 (vpmaddwd): 3 instructions for 16
 * dimensions where the float kernel takes 6. */
__attribute__((target("avx2"), always_inline)) inline __m256i mul16(const int16_t* q,
                                                                   const int8_t* c) {
    __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)));
    return _mm256_madd_epi16(w, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
}

__attribute__((target("avx2"), always_inline)) inline int32_t ip16_body(const int16_t* q,
                                                                       const int8_t* c, size_t d) {
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    size_t i = 0;
#pragma GCC unroll 12
    for (; i + 32 <= d; i += 32) {
        a0 = _mm256_add_epi32(a0, mul16(q + i, c + i));
        a1 = _mm256_add_epi32(a1, mul16(q + i + 16, c + i + 16));
        /* two running sums kept as written: left free, GCC regroups the
         * (associative) integer adds of the unrolled loop into a tree that
         * spills registers (16% more instructions, callgrind) */
        __asm__("" : "+x"(a0), "+x"(a1));
    }
    for (; i + 16 <= d; i += 16) a0 = _mm256_add_epi32(a0, mul16(q + i, c + i));
    __m256i s = _mm256_add_epi32(a0, a1);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    int32_t r = _mm_cvtsi128_si32(h);
    for (; i < d; i++) r += (int32_t)q[i] * c[i];
    return r;
}

__attribute__((target("avx2"))) int32_t ip16_avx2(const int16_t* q, const int8_t* c, size_t d) {
    return d == 384 ? ip16_body(q, c, 384) : ip16_body(q, c, d);
}

/* The portable kernel (any CPU; the compiler may vectorise it). */
int32_t ip16_ref(const int16_t* q, const int8_t* c, size_t d) {
    int32_t r = 0;
    for (size_t i = 0; i < d; i++) r += (int32_t)q[i] * c[i];
    return r;
}

const ip16_fn ip16 = ip == ip_avx2 ? ip16_avx2 : ip16_ref;

/* q rounded to int16 words: out[i] = round(q[i] / m * q16_max(d)) with m
 * = max|q| (into *qmax), so the words are q in steps of m / q16_max,
 * each within half a step (and float rounding). m is kept rather than the
 * step, which for a tiny query would be a denormal float and imprecise.
 * False (nothing written) when q has a non-finite component; the zero
 * vector gives zeros and m 0. */
bool quantise16(const float* q, size_t d, int16_t* out, float* qmax) {
    float m = 0;
    bool finite = true;
    for (size_t i = 0; i < d; i++) {
        m = std::max(m, std::fabs(q[i]));
        finite &= std::isfinite(q[i]);
    }
    if (!finite) return false;
    const int32_t top = q16_max(d);
    for (size_t i = 0; i < d; i++) {
        /* q[i] / m is within [-1, 1]: no overflow however large or tiny m */
        float v = m > 0 ? std::nearbyint(q[i] / m * (float)top) : 0.0f;
        out[i] = (int16_t)(v > (float)top ? top : v < -(float)top ? -top : v);
    }
    *qmax = m;
    return true;
}

/* ---- the int8 copy of one vector: code[i] = round(x[i] * 127 / m), m =
 * max|x|, clamped to -127..127 (round to nearest, ties to even: the
 * default rounding mode); returns the scale m / 127 (0 for the zero
 * vector, whose codes are 0). Both versions give the same bytes. */
inline int8_t code8(float x, float inv) {
    float v = std::nearbyint(x * inv);
    return (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
}

float quantise8_ref(const float* x, size_t d, int8_t* c) {
    float m = 0;
    for (size_t j = 0; j < d; j++) m = std::max(m, std::fabs(x[j]));
    const float inv = m > 0 ? 127.0f / m : 0.0f;
    for (size_t j = 0; j < d; j++) c[j] = code8(x[j], inv);
    return m > 0 ? m / 127.0f : 0.0f;
}

/* 8 components times inv, rounded, clamped to -127..127, as int32 */
__attribute__((target("avx2"), always_inline)) inline __m256i round8(const float* x, __m256 inv) {
    __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x), inv),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_max_ps(_mm256_min_ps(v, _mm256_set1_ps(127.0f)), _mm256_set1_ps(-127.0f));
    return _mm256_cvtps_epi32(v);
}

/* 32 at a time: four roundings, packed to bytes with saturation (which
 * the clamp makes exact), the dwords put back in order. A NaN component
 * has no place in an index (vindex.c refuses non-finite vectors). */
__attribute__((target("avx2"))) float quantise8_avx2(const float* x, size_t d, int8_t* c) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 mx = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= d; j += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float m = _mm_cvtss_f32(h);
    for (; j < d; j++) m = std::max(m, std::fabs(x[j]));
    const float inv = m > 0 ? 127.0f / m : 0.0f;
    const __m256 vi = _mm256_set1_ps(inv);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (j = 0; j + 32 <= d; j += 32) {
        __m256i ab = _mm256_packs_epi32(round8(x + j, vi), round8(x + j + 8, vi));
        __m256i cd = _mm256_packs_epi32(round8(x + j + 16, vi), round8(x + j + 24, vi));
        __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), order);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + j), b);
    }
    for (; j < d; j++) c[j] = code8(x[j], inv);
    return m > 0 ? m / 127.0f : 0.0f;
}

typedef float (*quantise8_fn)(const float*, size_t, int8_t*);
const quantise8_fn quantise8 = ip == ip_avx2 ? quantise8_avx2 : quantise8_ref;

/* A buffer for search structures read at random: 2 MB aligned and
 * advised to be backed by huge pages (transparent huge pages in "madvise"
 * mode), since a walk touches a new 4 KB page at almost every step and,
 * in a VM, each TLB miss is a two-level page walk (perf: most of the walk's
 * time was the first touch of each vector). */
struct HugeBuf {
    void* p = nullptr;
    size_t n = 0;
    HugeBuf() = default;
    HugeBuf(const HugeBuf&) = delete;
    HugeBuf& operator=(const HugeBuf&) = delete;
    ~HugeBuf() { std::free(p); }
    size_t cap = 0;
    /* At least `bytes`, keeping the first `keep` bytes; grows by 1/8 more
     * than asked, so that appends rarely copy. */
    bool alloc(size_t bytes, size_t keep = 0) {
        if (bytes <= cap) { n = bytes; return true; }
        const size_t H = (size_t)2 << 20;
        size_t r = (bytes + bytes / 8 + H - 1) / H * H;
        void* q = std::aligned_alloc(H, r);
        if (!q) return false;
        madvise(q, r, MADV_HUGEPAGE);   /* advice only: fine when refused */
        if (keep && p) std::memcpy(q, p, std::min(keep, n));
        std::free(p);
        p = q;
        n = bytes;
        cap = r;
        return true;
    }
};

/* Huge pages for the float vectors (SimdFlatIP::huge_xb): asked for by
 * long-lived searchers (cr_faiss_set_huge: `cairn serve`), where the
 * collapse (~40 ms of CPU for 158 MB, more when memory must be compacted)
 * is repaid within seconds, and not by a one-shot `cairn search`, whose
 * few queries would not repay it. CAIRN_HNSW_HUGE=0 or 1 in the
 * environment overrides (read once). */
std::atomic<int> huge_want{0};
/* flat searches made by flat_search and the candidates they re-scored
 * (cr_faiss_flat_stats: tests, benchmarks) */
std::atomic<uint64_t> flat_searches{0}, flat_rescored{0};
bool huge_on() {
    static const int env = [] {
        const char* e = std::getenv("CAIRN_HNSW_HUGE");
        return e && !std::strcmp(e, "0") ? 0 : e && !std::strcmp(e, "1") ? 1 : -1;
    }();
    return env >= 0 ? env == 1 : huge_want.load(std::memory_order_relaxed) != 0;
}

/* MADV_HUGEPAGE over the whole 2 MB blocks of [p, p + n): pages faulted
 * in there later come huge. Advice only. */
void huge_advise(const void* p, size_t n) {
    const uintptr_t H = (uintptr_t)2 << 20;
    const uintptr_t a2 = ((uintptr_t)p + H - 1) & ~(H - 1), z2 = ((uintptr_t)p + n) & ~(H - 1);
    if (huge_on() && z2 > a2) madvise(reinterpret_cast<void*>(a2), z2 - a2, MADV_HUGEPAGE);
}

struct SimdFlatIP : faiss::IndexFlatIP {
    /* The search copy (see the top of this file), made by prepare() for
     * the current vectors and graph: per vector a record of q8_stride
     * bytes, d int8 codes then the float scale (one record, one miss),
     * and, for HNSW, each vector's layer-0 neighbour list (nb0_w ints, -1
     * padded). A flat index has the codes only (flat_search). */
    HugeBuf q8, nb0;
    size_t q8_stride = 0;
    size_t q8_n = 0;               /* vectors quantised (a valid prefix: adds append) */
    int nb0_w = 0;
    /* CAIRN_HNSW_PLAIN=1 in the environment when the copy is made from
     * scratch: every candidate re-scored (no bound), the search as it was
     * before the bound (tests/test_vector_walk.c compares the two). */
    bool plain = false;
    /* CAIRN_HNSW_WALK=float in the environment when the copy is made from
     * scratch: the walk scores the codes against the float query (the
     * walk before the integer query; bench_vector compares the two). */
    bool float_walk = false;
    idx_t prepared = -1;           /* ntotal when prepared; -1: stale */
    std::mutex prep_mu;
    /* For cairn's insert (the section "cairn's HNSW insert" below), per
     * vector: how many entries at the start of its layer-0 neighbour list
     * are known to be "closed" (the output of one neighbour-selection
     * pass), and a hash of that count and those ids, checked before use,
     * so that a list changed elsewhere (FAISS's own add, a copy of
     * another graph) is just not known closed. In memory only; empty
     * after a load (nothing known). */
    std::vector<uint8_t> closed_k;
    std::vector<uint64_t> closed_sum;

    explicit SimdFlatIP(idx_t d) : IndexFlatIP(d) {}
    faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override {
        return new SimdIPDis(*this);
    }
    const int8_t* codes8() const { return static_cast<const int8_t*>(q8.p); }
    const int* nbr0() const { return static_cast<const int*>(nb0.p); }

    /* Builds the search copy over the current vectors, with graph g's
     * layer-0 lists (g null: a flat index, codes only); false when out of
     * memory (the copy stays stale). */
    bool prepare(const faiss::HNSW* g) {
        const size_t n = (size_t)ntotal, dd = (size_t)d;
        int w = g ? g->nb_neighbors(0) : 0;
        size_t stride = (dd + sizeof(float) + 15) / 16 * 16;
        size_t from = stride == q8_stride ? std::min(q8_n, n) : 0;
        if (from == 0) {
            const char* e = std::getenv("CAIRN_HNSW_PLAIN");
            plain = e && std::strcmp(e, "1") == 0;
            const char* wk = std::getenv("CAIRN_HNSW_WALK");
            float_walk = wk && std::strcmp(wk, "float") == 0;
        }
        q8_n = 0;
        if (!q8.alloc(n * stride, from * stride) ||
            (g && !nb0.alloc(n * (size_t)w * sizeof(int))))
            return false;
        const float* xb = get_xb();
        int8_t* c8 = static_cast<int8_t*>(q8.p);
        int* nb = static_cast<int*>(nb0.p);
        for (size_t i = 0; g && i < n; i++) {
            size_t b, e;
            g->neighbor_range((idx_t)i, 0, &b, &e);
            for (int j = 0; j < w; j++)
                nb[i * (size_t)w + (size_t)j] = b + (size_t)j < e ? g->neighbors[b + (size_t)j] : -1;
        }
        for (size_t i = from; i < n; i++) {
            int8_t* c = c8 + i * stride;
            std::memset(c + dd, 0, stride - dd);
            float sc = quantise8(xb + i * dd, dd, c);
            std::memcpy(c + dd, &sc, sizeof sc);
        }
        nb0_w = w;
        q8_stride = stride;
        q8_n = n;
        huge_xb();
        return true;
    }
    /* The float vectors (FAISS's codes array) on transparent huge pages:
     * the re-scoring after the walk reads ~126 of them at random per
     * query (1.5 KB each at 384 dimensions), and on 4 KB pages nearly
     * every one costs a TLB miss, a two-level page walk in a VM
     * (docs/benchmarks.md, hugexb: the vector lane's CPU per query went
     * from ~840 to ~390 us median on a loaded machine). Advised
     * (MADV_HUGEPAGE, for the array's spare capacity too, so that pages
     * faulted in later come huge) and collapsed at once (MADV_COLLAPSE,
     * Linux 6.1; a no-op for blocks already huge) over the whole 2 MB
     * blocks the vectors fill, every time (cheap for blocks already
     * huge; an array FAISS reallocated elsewhere comes in 4 KB pages
     * again; vclone.cpp advises the arrays it allocates before filling
     * them).
     * Advice only: a kernel without it, or with transparent huge pages
     * off, leaves 4 KB pages and the same answers. Only when asked for
     * (huge_on). */
    void huge_xb() {
        if (!huge_on() || codes.empty()) return;
        const uintptr_t H = (uintptr_t)2 << 20;
        const uintptr_t a = (uintptr_t)codes.data(), z = a + codes.size();
        const uintptr_t a2 = (a + H - 1) & ~(H - 1), z2 = z & ~(H - 1);
        if (z2 <= a2) return;
        huge_advise(codes.data(), codes.capacity());
        madvise(reinterpret_cast<void*>(a2), z2 - a2, 25 /* MADV_COLLAPSE */);
    }
    /* The search copy is current (prepares it once, under a mutex, when
     * stale: searches may arrive on many threads at once). */
    bool ready(const faiss::HNSW* g) {
        if (__atomic_load_n(&prepared, __ATOMIC_ACQUIRE) == ntotal) return true;
        std::lock_guard<std::mutex> lk(prep_mu);
        if (prepared == ntotal) return true;
        if (!prepare(g)) return false;
        __atomic_store_n(&prepared, ntotal, __ATOMIC_RELEASE);
        return true;
    }
    /* Any change to the vectors or the graph makes the copy stale (the
     * caller changing an index searches it on no other thread meanwhile). */
    void add(idx_t n, const float* x) override {
        __atomic_store_n(&prepared, (idx_t)-1, __ATOMIC_RELEASE);
        IndexFlatIP::add(n, x);
    }
    void reset() override {
        __atomic_store_n(&prepared, (idx_t)-1, __ATOMIC_RELEASE);
        q8_n = 0;
        closed_k.clear();
        closed_sum.clear();
        IndexFlatIP::reset();
    }
    size_t remove_ids(const faiss::IDSelector& sel) override {
        __atomic_store_n(&prepared, (idx_t)-1, __ATOMIC_RELEASE);
        q8_n = 0;
        closed_k.clear();
        closed_sum.clear();
        return IndexFlatIP::remove_ids(sel);
    }
};

/* Visited marks for one thread's searches: one bit per vector, cleared at
 * the start of each search (14 KB for 112k vectors, one memset). A byte per
 * vector (a stamp) was 8x larger: the walk streams ~3.5 MB of codes a query
 * through L1 and L2, and a mark's test missed there (perf: 13% of the
 * walk's samples at that load); the bits stay cached. */
struct Visited {
    HugeBuf mark;
    size_t words = 0;
    bool start(size_t want) {
        size_t w = (want + 63) / 64;
        if (words < w) {
            if (!mark.alloc(w * sizeof(uint64_t))) return false;
            words = w;
        }
        std::memset(mark.p, 0, w * sizeof(uint64_t));
        return true;
    }
    bool test_set(int i) {
        uint64_t* m = static_cast<uint64_t*>(mark.p) + ((unsigned)i >> 6);
        const uint64_t bit = (uint64_t)1 << ((unsigned)i & 63);
        if (*m & bit) return true;
        *m |= bit;
        return false;
    }
};

/* A pool of visited tables, so that a thread made for one query (the
 * hybrid search's vector lane) does not allocate and clear a fresh one. */
std::mutex pool_mu;
struct Pool : std::vector<Visited*> {
    ~Pool() { for (Visited* v : *this) delete v; }
} pool;

struct VisitedLease {
    Visited* v;
    VisitedLease() {
        {
            std::lock_guard<std::mutex> lk(pool_mu);
            if (!pool.empty()) {
                v = pool.back();
                pool.pop_back();
                return;
            }
        }
        v = new Visited();
    }
    ~VisitedLease() {
        try {
            std::lock_guard<std::mutex> lk(pool_mu);
            pool.push_back(v);
        } catch (...) {
            delete v;
        }
    }
};

struct Cand {
    float s;
    int id;
};
struct BestFirst {   /* max-heap on s: the most similar candidate on top */
    bool operator()(const Cand& a, const Cand& b) const { return a.s < b.s; }
};
struct WorstFirst {  /* min-heap on s: the least similar result on top */
    bool operator()(const Cand& a, const Cand& b) const { return a.s > b.s; }
};

/* The hint's type is GCC's enum _mm_hint but clang's int: take whichever. */
template <decltype(_MM_HINT_T0) Hint = _MM_HINT_T0>
inline void prefetch_code(const int8_t* c, size_t d) {
    for (size_t o = 0; o < d; o += 64) _mm_prefetch(reinterpret_cast<const char*>(c + o), Hint);
}

/* The walk (greedy descent, then the best-first search of layer 0) over
 * HNSW graph g with the search copy of st, scoring vector i by score(i);
 * leaves the ef best found, as (walk score, storage position), in res. */
template <class Score>
void walk(const faiss::HNSW& g, const SimdFlatIP& st, int ef, Score score,
          std::vector<Cand>& res) {
    const idx_t nt = st.ntotal;
    const int8_t* codes = st.codes8();
    const size_t stride = st.q8_stride;
    const int* nbr0 = st.nbr0();
    const size_t w = (size_t)st.nb0_w;

    int cur = g.entry_point;
    float cs = score(cur);
    for (int level = g.max_level; level > 0; level--) {
        for (bool moved = true; moved;) {
            moved = false;
            size_t b, e;
            g.neighbor_range(cur, level, &b, &e);
            for (size_t j = b; j < e; j++) {
                int v = g.neighbors[j];
                if (v < 0) break;
                float s = score(v);
                if (s > cs) { cs = s; cur = v; moved = true; }
            }
        }
    }

    std::vector<Cand> cand;
    std::vector<int> nb;
    nb.reserve(w);
    cand.reserve((size_t)ef * 2);
    res.reserve((size_t)ef + 1);
    VisitedLease lease;
    Visited& visited = *lease.v;
    if (!visited.start((size_t)nt)) throw std::bad_alloc();
    visited.test_set(cur);
    cand.push_back({cs, cur});
    res.push_back({cs, cur});
    while (!cand.empty()) {
        Cand c = cand.front();
        if ((int)res.size() >= ef && c.s < res.front().s) break;
        std::pop_heap(cand.begin(), cand.end(), BestFirst());
        cand.pop_back();
        /* the neighbour list of the candidate likely next (the best left),
         * fetched while this one's neighbours are scored: the load of a
         * list was the walk's largest single stall after the codes (perf) */
        if (!cand.empty())
            prefetch_code(reinterpret_cast<const int8_t*>(nbr0 + (size_t)cand.front().id * w),
                          w * sizeof(int));
        const int* ns = nbr0 + (size_t)c.id * w;
        nb.clear();
        for (size_t j = 0; j < w; j++) {
            int v = ns[j];
            if (v < 0) break;
            if (!visited.test_set(v)) nb.push_back(v);
        }
        /* the first codes into L1 now and each later one a few ahead of
         * its scoring, as before; the rest of the batch into L2 at once, so
         * that more of its misses are in flight together */
        const size_t ahead = 3;
        for (size_t j = ahead; j < nb.size(); j++)
            prefetch_code<_MM_HINT_T1>(codes + (size_t)nb[j] * stride, stride);
        for (size_t j = 0; j < nb.size() && j < ahead; j++)
            prefetch_code(codes + (size_t)nb[j] * stride, stride);
        for (size_t j = 0; j < nb.size(); j++) {
            if (j + ahead < nb.size())
                prefetch_code(codes + (size_t)nb[j + ahead] * stride, stride);
            int v = nb[j];
            float s = score(v);
            if ((int)res.size() < ef || s > res.front().s) {
                cand.push_back({s, v});
                std::push_heap(cand.begin(), cand.end(), BestFirst());
                res.push_back({s, v});
                std::push_heap(res.begin(), res.end(), WorstFirst());
                if ((int)res.size() > ef) {
                    std::pop_heap(res.begin(), res.end(), WorstFirst());
                    res.pop_back();
                }
            }
        }
    }
}

/* The candidates c (storage positions) re-scored exactly from the float
 * vectors xb (d each) against q; the best k, best first (ties by
 * position), into out_s and out_i; returns how many. The vectors are read
 * at random (1.5 KB each at 384 dimensions): each is fetched four
 * candidates ahead of its scoring, so that their misses overlap. */
int rescore(const float* xb, size_t d, const float* q, std::vector<Cand>& c, int k, float* out_s,
            int64_t* out_i) {
    const size_t fahead = 4, vbytes = d * sizeof(float);
    auto fetch = [&](size_t j) {
        prefetch_code(reinterpret_cast<const int8_t*>(xb + (size_t)c[j].id * d), vbytes);
    };
    for (size_t j = 0; j < c.size() && j < fahead; j++) fetch(j);
    for (size_t j = 0; j < c.size(); j++) {
        if (j + fahead < c.size()) fetch(j + fahead);
        c[j].s = ip(q, xb + (size_t)c[j].id * d, d);
    }
    int m = std::min((int)c.size(), k);
    std::partial_sort(c.begin(), c.begin() + m, c.end(),
                      [](const Cand& a, const Cand& b) { return a.s > b.s || (a.s == b.s && a.id < b.id); });
    for (int i = 0; i < m; i++) {
        out_s[i] = c[(size_t)i].s;
        out_i[i] = c[(size_t)i].id;
    }
    return m;
}

/* The search described at the top of this file over HNSW index h with
 * storage st; fills up to k (id, score) pairs, best first, ids being
 * storage positions. Returns the count. */
int hnsw_search(const faiss::IndexHNSW& h, const SimdFlatIP& st, const float* q, int k,
                float* out_s, int64_t* out_i) {
    const faiss::HNSW& g = h.hnsw;
    const size_t d = (size_t)st.d;
    const idx_t nt = st.ntotal;
    if (nt == 0 || g.entry_point < 0) return 0;
    const int ef = std::max(g.efSearch, k);
    const int8_t* codes = st.codes8();
    const size_t stride = st.q8_stride;
    auto scale = [&](int i) {
        float sc;
        std::memcpy(&sc, codes + (size_t)i * stride + d, sizeof sc);
        return sc;
    };
    /* The integer walk: vector i scores scale_i * (q16 . code_i), its
     * inner product with the query in units of the query's step (m /
     * q16_max: a positive factor, the same for every vector, left out). */
    std::vector<int16_t> q16(st.float_walk ? 0 : d);
    float qm = 0;
    const bool int_walk = !st.float_walk && quantise16(q, d, q16.data(), &qm);
    std::vector<Cand> res;
    if (int_walk) {
        const int16_t* qw = q16.data();
        walk(g, st, ef, [&](int i) {
            return scale(i) * (float)ip16(qw, codes + (size_t)i * stride, d);
        }, res);
    } else {
        walk(g, st, ef, [&](int i) { return scale(i) * ip8(q, codes + (size_t)i * stride, d); }, res);
    }
    /* Exact re-scoring from the float vectors, of the candidates that can
     * be among the best k. Per component |x - scale*code| <= scale/2, so a
     * candidate's exact score is within scale*|q|_1/2 of the float walk's
     * score, up to float rounding in both sums (each under d * 2^-24 * 127
     * of scale*|q|_1: 0.3% at 384 dimensions; the margin below adds 1%
     * plus 2e-5 * d, twice that). The integer walk's scores are in units
     * of the query's step u (q ~ u * q16) and add the query's rounding:
     * q . x / u - scale*(q16 . code) = (q/u) . (x - scale*code)
     * + scale * code . (q/u - q16), the first under scale*|q/u|_1/2, the
     * second under scale * 127 * d / 2 (the integer sum is exact; the
     * float products round at 2^-24, inside the margin); the bounds are
     * taken in those units. A candidate whose upper bound is below
     * the k-th largest lower bound cannot be in the best k (k others are
     * surely above it), so leaving it out changes nothing in the answer. */
    const float* xb = st.get_xb();
    if (res.size() > (size_t)k && !st.plain) {
        float q1 = 0;
        if (!int_walk) {
            for (size_t j = 0; j < d; j++) q1 += std::fabs(q[j]);
        } else if (qm > 0) {
            const float top = (float)q16_max(d);
            for (size_t j = 0; j < d; j++) q1 += std::fabs(q[j] / qm) * top;
            q1 += 127.0f * (float)d;
        }
        const float half = q1 * (0.5f + 0.01f + 2e-5f * (float)d);
        std::vector<float> lo(res.size());
        for (size_t j = 0; j < res.size(); j++) lo[j] = res[j].s - half * scale(res[j].id);
        std::nth_element(lo.begin(), lo.begin() + (k - 1), lo.end(), std::greater<float>());
        const float bar = lo[(size_t)k - 1];
        if (std::isfinite(q1) && std::isfinite(bar)) {
            size_t keep = 0;
            for (size_t j = 0; j < res.size(); j++)
                if (!(res[j].s + half * scale(res[j].id) < bar)) res[keep++] = res[j];
            res.resize(keep);
        }
    }
    return rescore(xb, d, q, res, k, out_s, out_i);
}

/* The exact search of a flat index over its search copy: every vector
 * scored by its int8 codes against the query rounded to int16 (a quarter
 * of the float vectors' bytes: a flat search streams all of them, so it
 * is bound by memory), then only the candidates that can still be among
 * the best k re-scored from the float vectors, as after the HNSW walk
 * (the same error bound, see hnsw_search): the answer is the exhaustive
 * search's, with exact scores. Fills up to k (id, score) pairs, best
 * first, ids being storage positions; returns the count, or -1 when the
 * query cannot be rounded (a non-finite or zero component set: the caller
 * searches the plain way). */
int flat_search(const SimdFlatIP& st, const float* q, int k, float* out_s, int64_t* out_i) {
    const size_t d = (size_t)st.d, n = (size_t)st.ntotal;
    const int8_t* codes = st.codes8();
    const size_t stride = st.q8_stride;
    std::vector<int16_t> q16(d);
    float qm = 0;
    if (!quantise16(q, d, q16.data(), &qm) || !(qm > 0)) return -1;
    /* bounds in units of the query's step, as in hnsw_search */
    const float top = (float)q16_max(d);
    float q1 = 127.0f * (float)d;
    for (size_t j = 0; j < d; j++) q1 += std::fabs(q[j] / qm) * top;
    const float half = q1 * (0.5f + 0.01f + 2e-5f * (float)d);
    if (!std::isfinite(half)) return -1;
    /* lows: a min-heap of the k largest lower bounds so far; its top is the
     * bar a candidate's upper bound must reach. The bar only rises, so a
     * candidate kept early may fall below it later: filtered again at the
     * end. */
    std::vector<float> lows;
    lows.reserve((size_t)k + 1);
    std::vector<Cand> cand;
    cand.reserve((size_t)k * 4 + 64);
    float bar = -INFINITY;
    const int16_t* qw = q16.data();
    auto drop_below_bar = [&] {   /* the candidates the bar has passed */
        size_t keep = 0;
        for (const Cand& x : cand) {
            float sx;
            std::memcpy(&sx, codes + (size_t)x.id * stride + d, sizeof sx);
            if (!(x.s + half * sx < bar)) cand[keep++] = x;
        }
        cand.resize(keep);
    };
    const size_t ahead = 8;
    for (size_t i = 0; i < n && i < ahead; i++) prefetch_code(codes + i * stride, stride);
    for (size_t i = 0; i < n; i++) {
        if (i + ahead < n) prefetch_code(codes + (i + ahead) * stride, stride);
        const int8_t* c = codes + i * stride;
        float sc;
        std::memcpy(&sc, c + d, sizeof sc);
        const float s = sc * (float)ip16(qw, c, d), e = half * sc;
        if (s + e < bar) continue;
        cand.push_back({s, (int)i});
        if (lows.size() < (size_t)k) {
            lows.push_back(s - e);
            std::push_heap(lows.begin(), lows.end(), std::greater<float>());
            if (lows.size() == (size_t)k) bar = lows.front();
        } else if (s - e > lows.front()) {
            std::pop_heap(lows.begin(), lows.end(), std::greater<float>());
            lows.back() = s - e;
            std::push_heap(lows.begin(), lows.end(), std::greater<float>());
            bar = lows.front();
        }
        /* keep the list short when the bar has moved far since */
        if (cand.size() >= cand.capacity()) {
            drop_below_bar();
            if (cand.size() * 2 > cand.capacity()) cand.reserve(cand.capacity() * 2);
        }
    }
    drop_below_bar();
    flat_searches.fetch_add(1, std::memory_order_relaxed);
    flat_rescored.fetch_add(cand.size(), std::memory_order_relaxed);
    return rescore(st.get_xb(), d, q, cand, k, out_s, out_i);
}

/* ---- cairn's HNSW insert
 *
 * FAISS 1.7.3's insert (HNSW::add_with_locks, one vector at a time) with
 * the same steps in the same order, so that it builds the very same graph
 * (tests/test_hnsw_add.c compares them): levels drawn by the HNSW's own
 * generator (prepare_level_tab), a batch inserted by level, highest first,
 * each level's vectors shuffled by RandomGenerator(789); greedy descent
 * through the levels above the vector's; on each of its levels the
 * efConstruction best found (search_neighbors_to_add), cut to the level's
 * list size by the selection heuristic, linked both ways (add_link).
 * Distances are FAISS's through this storage's computer: -ip, by the
 * same kernel, so every comparison has the same bits.
 *
 * What is cheaper: the selection heuristic when a layer-0 list is full
 * (add_link: the 64 neighbours plus the new one "fight it out"), which
 * was 65-70% of an insert's CPU on 112k vectors (perf, docs/benchmarks.md,
 * hnswinsert). It walks the candidates nearest first and keeps one unless
 * a kept one is nearer to it than the list's owner is:
 * d(v1, v2) < d(v1, owner). Its output is "closed": for any two kept a, b,
 * d(a, b) >= max(d(a, owner), d(b, owner)) (every such pair was checked
 * and passed). The list is written back as that output, then later links
 * are appended after it. The next time the list is full, a pair of two
 * entries of the closed prefix needs no distance: the check is known to
 * pass (it is the same comparison, whichever of the two comes first). Only
 * pairs with an appended entry or the new one are computed, and the kept
 * set is the same as FAISS's. The prefix length and a hash of it live in
 * the storage (SimdFlatIP::closed_k, closed_sum) and are checked before
 * use. Only layer 0 (the upper lists are few). Single-threaded: FAISS runs
 * a batch of up to 100 on one thread too (its OpenMP loop has an `if`). */

typedef faiss::HNSW::NodeDistCloser NodeDistCloser;
typedef faiss::HNSW::NodeDistFarther NodeDistFarther;

struct AddDis {   /* FAISS's NegativeDistanceComputer over SimdIPDis */
    const float* b;
    size_t d;
    const float* q = nullptr;
    float operator()(int i) const { return -ip(q, b + (size_t)i * d, d); }
    float sym(int i, int j) const { return -ip(b + (size_t)j * d, b + (size_t)i * d, d); }
};

/* FAISS's VisitedTable: a byte per vector, stamped; cleared on wrap. */
struct AddVisited {
    std::vector<uint8_t> v;
    uint8_t no = 1;
    explicit AddVisited(size_t n) : v(n, 0) {}
    bool get(int i) const { return v[(size_t)i] == no; }
    void set(int i) { v[(size_t)i] = no; }
    void advance() {
        if (++no == 250) {
            std::fill(v.begin(), v.end(), 0);
            no = 1;
        }
    }
};

uint64_t closed_hash(const int* ids, size_t k) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)k;
    for (size_t i = 0; i < k; i++) {
        h = (h ^ (uint32_t)ids[i]) * 0x100000001B3ull;
        h ^= h >> 29;
    }
    return h;
}

struct Inserter {
    faiss::HNSW& g;
    SimdFlatIP& st;
    AddDis dis;
    AddVisited vt;
    std::vector<int> closed;   /* scratch: the closed prefix, sorted */
    uint64_t pairs = 0, pairs_skipped = 0;

    Inserter(faiss::HNSW& g, SimdFlatIP& st)
            : g(g), st(st), vt((size_t)st.ntotal) {
        dis.b = st.get_xb();
        dis.d = (size_t)st.d;
        if (st.closed_k.size() < (size_t)st.ntotal) {
            st.closed_k.resize((size_t)st.ntotal, 0);
            st.closed_sum.resize((size_t)st.ntotal, 0);
        }
    }

    void greedy_update_nearest(int level, int& nearest, float& d_nearest) {
        for (;;) {
            int prev = nearest;
            size_t b, e;
            g.neighbor_range(nearest, level, &b, &e);
            for (size_t i = b; i < e; i++) {
                int v = g.neighbors[i];
                if (v < 0) break;
                float d = dis(v);
                if (d < d_nearest) { nearest = v; d_nearest = d; }
            }
            if (nearest == prev) return;
        }
    }

    void search_neighbors_to_add(std::priority_queue<NodeDistCloser>& results, int entry,
                                 float d_entry, int level) {
        std::priority_queue<NodeDistFarther> candidates;
        candidates.emplace(d_entry, entry);
        results.emplace(d_entry, entry);
        vt.set(entry);
        while (!candidates.empty()) {
            const NodeDistFarther& cur = candidates.top();
            if (cur.d > results.top().d) break;
            int node = cur.id;
            candidates.pop();
            size_t b, e;
            g.neighbor_range(node, level, &b, &e);
            for (size_t i = b; i < e; i++) {
                int v = g.neighbors[i];
                if (v < 0) break;
                if (vt.get(v)) continue;
                vt.set(v);
                float d = dis(v);
                if (results.size() < (size_t)g.efConstruction || results.top().d > d) {
                    results.emplace(d, v);
                    candidates.emplace(d, v);
                    if (results.size() > (size_t)g.efConstruction) results.pop();
                }
            }
        }
        vt.advance();
    }

    bool is_closed(int id) const { return std::binary_search(closed.begin(), closed.end(), id); }

    /* HNSW::shrink_neighbor_list; with `known`, pairs of two closed
     * entries are not computed (the check is known to pass). */
    void shrink(std::priority_queue<NodeDistFarther>& input, std::vector<NodeDistFarther>& output,
                size_t max_size, bool known) {
        std::vector<char> out_closed;
        while (!input.empty()) {
            NodeDistFarther v1 = input.top();
            input.pop();
            bool c1 = known && is_closed(v1.id);
            bool good = true;
            for (size_t j = 0; j < output.size(); j++) {
                if (c1 && out_closed[j]) { pairs_skipped++; continue; }
                pairs++;
                if (dis.sym(output[j].id, v1.id) < v1.d) { good = false; break; }
            }
            if (good) {
                output.push_back(v1);
                out_closed.push_back(c1);
                if (output.size() >= max_size) return;
            }
        }
    }

    /* The anonymous-namespace shrink_neighbor_list of FAISS's HNSW.cpp. */
    void shrink_list(std::priority_queue<NodeDistCloser>& rs1, size_t max_size, bool known) {
        if (rs1.size() < max_size) return;
        std::priority_queue<NodeDistFarther> rs;
        std::vector<NodeDistFarther> ret;
        while (!rs1.empty()) {
            rs.emplace(rs1.top().d, rs1.top().id);
            rs1.pop();
        }
        shrink(rs, ret, max_size, known);
        for (const NodeDistFarther& c : ret) rs1.emplace(c.d, c.id);
    }

    void add_link(int src, int dest, int level) {
        size_t b, e;
        g.neighbor_range(src, level, &b, &e);
        if (g.neighbors[e - 1] == -1) {
            size_t i = e;
            while (i > b) {
                if (g.neighbors[i - 1] != -1) break;
                i--;
            }
            g.neighbors[i] = dest;
            return;
        }
        bool known = false;
        if (level == 0) {
            size_t k = st.closed_k[(size_t)src];
            closed.clear();
            if (k && k <= e - b && st.closed_sum[(size_t)src] == closed_hash(&g.neighbors[b], k)) {
                closed.assign(g.neighbors.begin() + (ptrdiff_t)b, g.neighbors.begin() + (ptrdiff_t)(b + k));
                std::sort(closed.begin(), closed.end());
                known = true;
            }
        }
        std::priority_queue<NodeDistCloser> rs;
        rs.emplace(dis.sym(src, dest), dest);
        for (size_t i = b; i < e; i++) {
            int nb = g.neighbors[i];
            rs.emplace(dis.sym(src, nb), nb);
        }
        shrink_list(rs, e - b, known);
        size_t i = b;
        while (!rs.empty()) {
            g.neighbors[i++] = rs.top().id;
            rs.pop();
        }
        if (level == 0) {
            st.closed_k[(size_t)src] = (uint8_t)(i - b);
            st.closed_sum[(size_t)src] = closed_hash(&g.neighbors[b], i - b);
        }
        while (i < e) g.neighbors[i++] = -1;
    }

    void add_links_starting_from(int pt, int nearest, float d_nearest, int level) {
        std::priority_queue<NodeDistCloser> targets;
        search_neighbors_to_add(targets, nearest, d_nearest, level);
        shrink_list(targets, (size_t)g.nb_neighbors(level), false);
        std::vector<int> nbs;
        nbs.reserve(targets.size());
        while (!targets.empty()) {
            int other = targets.top().id;
            add_link(pt, other, level);
            nbs.push_back(other);
            targets.pop();
        }
        for (int other : nbs) add_link(other, pt, level);
    }

    void add_one(int pt_level, int pt) {
        int nearest = g.entry_point;
        if (nearest == -1) {
            g.max_level = pt_level;
            g.entry_point = pt;
            return;
        }
        int level = g.max_level;
        float d_nearest = dis(nearest);
        for (; level > pt_level; level--) greedy_update_nearest(level, nearest, d_nearest);
        for (; level >= 0; level--) add_links_starting_from(pt, nearest, d_nearest, level);
        if (pt_level > g.max_level) {
            g.max_level = pt_level;
            g.entry_point = pt;
        }
    }
};

/* IndexHNSW::add then hnsw_add_vertices (no preset levels), one thread. */
void hnsw_add(faiss::IndexHNSW& h, SimdFlatIP& st, idx_t n, const float* x, uint64_t* pairs,
              uint64_t* skipped) {
    faiss::HNSW& g = h.hnsw;
    const size_t n0 = (size_t)h.ntotal, d = (size_t)h.d;
    st.add(n, x);
    h.ntotal = st.ntotal;
    if (n == 0) return;
    g.prepare_level_tab((size_t)n, false);
    std::vector<int> hist, order((size_t)n);
    for (size_t i = 0; i < (size_t)n; i++) {
        int l = g.levels[n0 + i] - 1;
        while (l >= (int)hist.size()) hist.push_back(0);
        hist[(size_t)l]++;
    }
    std::vector<int> offs(hist.size() + 1, 0);
    for (size_t i = 0; i + 1 < hist.size(); i++) offs[i + 1] = offs[i] + hist[i];
    for (size_t i = 0; i < (size_t)n; i++) {
        int l = g.levels[n0 + i] - 1;
        order[(size_t)offs[(size_t)l]++] = (int)(n0 + i);
    }
    Inserter ins(g, st);
    faiss::RandomGenerator rng2(789);
    int i1 = (int)n;
    for (int l = (int)hist.size() - 1; l >= 0; l--) {
        int i0 = i1 - hist[(size_t)l];
        for (int j = i0; j < i1; j++) std::swap(order[(size_t)j], order[(size_t)(j + rng2.rand_int(i1 - j))]);
        for (int i = i0; i < i1; i++) {
            int pt = order[(size_t)i];
            ins.dis.q = x + (size_t)(pt - (int)n0) * d;
            ins.add_one(l, pt);
        }
        i1 = i0;
    }
    /* process-wide counters: adds may run on several threads at once */
    if (pairs) __atomic_fetch_add(pairs, ins.pairs, __ATOMIC_RELAXED);
    if (skipped) __atomic_fetch_add(skipped, ins.pairs_skipped, __ATOMIC_RELAXED);
}

uint64_t add_pairs, add_pairs_skipped;   /* for the bench: heuristic pairs computed, skipped */

/* The vectorised storage under `index` (an IndexIDMap2 over an
 * IndexHNSWFlat, or over a flat index), with the HNSW graph in *g (null
 * for a flat index); null when the storage is not swapped in. */
template <class IDMap, class HNSW>
SimdFlatIP* storage_of(IDMap* m, HNSW** g) {
    *g = nullptr;
    if (!m) return nullptr;
    if (auto* h = dynamic_cast<HNSW*>(m->index)) {
        *g = h;
        return dynamic_cast<SimdFlatIP*>(h->storage);
    }
    return dynamic_cast<SimdFlatIP*>(m->index);
}
SimdFlatIP* storage_of(FaissIndex* index, faiss::IndexHNSW** g) {
    return storage_of(dynamic_cast<faiss::IndexIDMap2*>(reinterpret_cast<faiss::Index*>(index)), g);
}
const SimdFlatIP* storage_of(const FaissIndex* index, const faiss::IndexHNSW** g) {
    return storage_of(
            dynamic_cast<const faiss::IndexIDMap2*>(reinterpret_cast<const faiss::Index*>(index)), g);
}

/* A SimdFlatIP holding st's vectors (st's array is taken, st left empty). */
SimdFlatIP* simd_from(faiss::IndexFlat* st) {
    auto* ns = new SimdFlatIP(st->d);
    ns->codes.swap(st->codes);
    ns->ntotal = st->ntotal;
    ns->is_trained = st->is_trained;
    return ns;
}

} /* namespace */

extern "C" {

/* Gives `index` (an IndexIDMap2 over an IndexHNSWFlat or over a flat
 * index, inner product, or the HNSW index itself) the vectorised storage:
 * the HNSW's storage or the flat index is replaced by a SimdFlatIP with
 * the same vectors; anything else is left alone. Returns 1 when swapped, 0
 * when not applicable, -1 on failure (the index is unchanged then).
 * Declared in vindex.c and vclone.cpp. */
int cr_faiss_simd_storage(FaissIndex* index) {
    try {
        faiss::Index* ix = reinterpret_cast<faiss::Index*>(index);
        auto* m = dynamic_cast<faiss::IndexIDMap2*>(ix);
        if (m) ix = m->index;
        if (auto* h = dynamic_cast<faiss::IndexHNSWFlat*>(ix)) {
            auto* st = dynamic_cast<faiss::IndexFlat*>(h->storage);
            if (!h->own_fields || !st || st->metric_type != faiss::METRIC_INNER_PRODUCT ||
                dynamic_cast<SimdFlatIP*>(st))
                return 0;
            h->storage = simd_from(st);
            delete st;
            return 1;
        }
        auto* st = dynamic_cast<faiss::IndexFlat*>(ix);
        if (!m || !m->own_fields || !st || st->metric_type != faiss::METRIC_INNER_PRODUCT ||
            dynamic_cast<SimdFlatIP*>(st))
            return 0;
        m->index = simd_from(st);
        delete st;
        return 1;
    } catch (...) {
        return -1;
    }
}

/* cairn's search (the top of this file for HNSW, flat_search for a flat
 * index) of one query over `index` (an IndexIDMap2 with the storage
 * swapped in by cr_faiss_simd_storage): up to k results, best first,
 * scores exact inner products, ids from the id map. Returns the count
 * (>= 0), -1 when the index is not of that kind or the query is one
 * cairn's search leaves to FAISS (use faiss_Index_search), -2 on failure
 * (out of memory). Thread-safe over an index no one is changing. */
int cr_faiss_search(const FaissIndex* index, const float* q, int k, float* scores, int64_t* ids) {
    try {
        auto* m = dynamic_cast<const faiss::IndexIDMap2*>(reinterpret_cast<const faiss::Index*>(index));
        const faiss::IndexHNSW* h;
        SimdFlatIP* st = const_cast<SimdFlatIP*>(storage_of(index, &h));
        if (!st || k < 1 || m->id_map.size() != (size_t)st->ntotal) return -1;
        if (!st->ready(h ? &h->hnsw : nullptr)) return -2;
        int n = h ? hnsw_search(*h, *st, q, k, scores, ids) : flat_search(*st, q, k, scores, ids);
        for (int i = 0; i < n; i++) ids[i] = m->id_map[(size_t)ids[i]];
        return n;
    } catch (...) {
        return -2;
    }
}

/* Brings the search copy of an index with the swapped storage (HNSW or
 * flat) up to date now (the vectors added since are quantised, an HNSW's
 * layer-0 lists copied again) rather than at the next search. 0 done or
 * not applicable, -1 out of memory (the next search tries again). */
int cr_faiss_prepare(FaissIndex* index) {
    try {
        faiss::IndexHNSW* h;
        SimdFlatIP* st = storage_of(index, &h);
        return !st || st->ready(h ? &h->hnsw : nullptr) ? 0 : -1;
    } catch (...) {
        return -1;
    }
}

/* Copies the search copy of index `from` (HNSW or flat) into `to` (its clone, the
 * storage already swapped by cr_faiss_simd_storage: vclone.cpp), so the
 * clone needs no preparing, and what cairn's insert knows of its lists.
 * `same` (vclone.cpp's tail copy; 0: unknown): `to` was a copy of `from`
 * when it had `same` vectors and `from` has only been appended to since,
 * so the int8 codes of the first `same` vectors, which nothing rewrites,
 * are kept when `to` quantised them alike (a third of the bytes of a
 * copy; the neighbour lists, which an add rewrites anywhere, are copied
 * whole). 0 done or not applicable (the clone prepares itself at its
 * first search), -1 out of memory. */
int cr_faiss_simd_copy_search(const FaissIndex* from, FaissIndex* to, int64_t same) {
    try {
        const faiss::IndexHNSW* fh;
        faiss::IndexHNSW* th;
        auto* a = const_cast<SimdFlatIP*>(storage_of(from, &fh));
        auto* b = storage_of(to, &th);
        if (!a || !b || !fh != !th) return 0;
        /* what cairn's insert knows of the lists (checked by hash before
         * use, so a copy that goes stale costs time, not answers) */
        b->closed_k = a->closed_k;
        b->closed_sum = a->closed_sum;
        std::lock_guard<std::mutex> lk(a->prep_mu);
        if (a->prepared != a->ntotal || a->ntotal != b->ntotal) return 0;
        size_t keep = 0;
        if (same > 0 && b->q8_stride == a->q8_stride && (size_t)same <= b->q8_n &&
            (size_t)same <= a->q8_n)
            keep = (size_t)same * a->q8_stride;
        if (!b->q8.alloc(a->q8.n, keep) || !b->nb0.alloc(a->nb0.n)) return -1;
        if (a->q8.n > keep)
            std::memcpy(static_cast<char*>(b->q8.p) + keep, static_cast<const char*>(a->q8.p) + keep,
                        a->q8.n - keep);
        if (a->nb0.n) std::memcpy(b->nb0.p, a->nb0.p, a->nb0.n);
        b->q8_stride = a->q8_stride;
        b->q8_n = a->q8_n;
        b->nb0_w = a->nb0_w;
        b->plain = a->plain;
        b->float_walk = a->float_walk;
        b->huge_xb();
        __atomic_store_n(&b->prepared, a->prepared, __ATOMIC_RELEASE);
        return 0;
    } catch (...) {
        return -1;
    }
}

/* cr_vindex_huge_pages (vindex.c) */
void cr_faiss_set_huge(int on) { huge_want.store(on != 0, std::memory_order_relaxed); }

/* For vclone.cpp: advise huge pages for an array about to be filled
 * (huge_advise), so that the copy faults them in huge. */
void cr_faiss_huge_advise(const void* p, size_t n) { huge_advise(p, n); }

/* cairn's vectorised storage of HNSW index `index`, or NULL. */
static const SimdFlatIP* simd_storage_of(const FaissIndex* index) {
    const faiss::IndexHNSW* h;
    const SimdFlatIP* st = storage_of(index, &h);
    return h ? st : nullptr;
}

/* Flat searches made by cairn's flat search in this process and the
 * candidates they re-scored from the float vectors (tests, benchmarks). */
void cr_faiss_flat_stats(uint64_t* searches, uint64_t* rescored) {
    *searches = flat_searches.load(std::memory_order_relaxed);
    *rescored = flat_rescored.load(std::memory_order_relaxed);
}

/* For tests (tests/test_vector_huge.c): where the float vectors of HNSW
 * index `index` lie (*p, *n bytes). 0, or -1 when it is not cairn's HNSW. */
int cr_faiss_hnsw_vectors(const FaissIndex* index, const void** p, size_t* n) {
    const SimdFlatIP* st = simd_storage_of(index);
    if (!st) return -1;
    *p = st->codes.data();
    *n = st->codes.size();
    return 0;
}

/* For tests (tests/test_vclone.c, test_vector_flat.c): the int8 search
 * copy of index `index` (HNSW or flat), its quantised prefix (*p, *n
 * bytes). 0, or -1 when it has not cairn's storage. */
int cr_faiss_codes8(const FaissIndex* index, const void** p, size_t* n) {
    const faiss::IndexHNSW* h;
    const SimdFlatIP* st = storage_of(index, &h);
    if (!st) return -1;
    *p = st->q8.p;
    *n = st->q8_n * st->q8_stride;
    return 0;
}

/* For tests (tests/test_vector_walk.c): the integer walk's dot product of
 * int16 query words q by int8 codes c over d dimensions, by the AVX2
 * kernel (path 1) or the portable one (path 0), into *out. Returns 0, or
 * -1 when that path is not available on this CPU (AVX2 missing). Exact:
 * both equal the integer sum when |q[i]| <= cr_faiss_walk_q16_max(d). */
int cr_faiss_walk_dot(int path, const int16_t* q, const int8_t* c, size_t d, int32_t* out) {
    if (path == 1 && ip != ip_avx2) return -1;
    *out = path == 1 ? ip16_avx2(q, c, d) : ip16_ref(q, c, d);
    return 0;
}

/* For tests: the largest query word the walk uses at d dimensions, and
 * the walk's rounding of query q to int16 words (out, d of them; a word
 * is q in steps of max|q| / cr_faiss_walk_q16_max(d)), max|q| into
 * *qmax; 0, or -1 when q has a non-finite component. */
int32_t cr_faiss_walk_q16_max(size_t d) { return q16_max(d); }
int cr_faiss_walk_quantise(const float* q, size_t d, int16_t* out, float* qmax) {
    return quantise16(q, d, out, qmax) ? 0 : -1;
}

/* For tests (tests/test_vector_walk.c): the int8 copy of vector x (d
 * floats) into c (d bytes) by the AVX2 version (path 1) or the portable
 * one (path 0); the scale into *scale. 0, or -1 when that path is not
 * available on this CPU. */
int cr_faiss_quantise8(int path, const float* x, size_t d, int8_t* c, float* scale) {
    if (path == 1 && ip != ip_avx2) return -1;
    *scale = path == 1 ? quantise8_avx2(x, d, c) : quantise8_ref(x, d, c);
    return 0;
}

/* 1 when the vectorised kernel is in use on this CPU. */
int cr_faiss_simd_active(void) { return ip == ip_avx2; }

} /* extern "C" */

extern "C" {

/* cairn's HNSW insert (the section "cairn's HNSW insert" above) of n
 * vectors x under ids into `index`, as faiss_Index_add_with_ids would do
 * it on one thread: the same graph. `index` must be an IndexIDMap2 over
 * an IndexHNSWFlat with the storage swapped in by cr_faiss_simd_storage.
 * 0 done, 1 not applicable (nothing changed: use faiss_Index_add_with_ids),
 * -1 failure (out of memory; the index may hold part of the batch).
 * Declared in vindex.c, its one caller. */
int cr_faiss_hnsw_add(FaissIndex* index, int64_t n, const float* x, const int64_t* ids) {
    try {
        auto* m = dynamic_cast<faiss::IndexIDMap2*>(reinterpret_cast<faiss::Index*>(index));
        auto* h = m ? dynamic_cast<faiss::IndexHNSWFlat*>(m->index) : nullptr;
        auto* st = h ? dynamic_cast<SimdFlatIP*>(h->storage) : nullptr;
        if (!st || n < 0 || !h->is_trained || h->ntotal != st->ntotal ||
            h->hnsw.levels.size() != (size_t)h->ntotal || m->id_map.size() != (size_t)m->ntotal)
            return 1;
        const size_t prev = (size_t)m->ntotal;
        hnsw_add(*h, *st, (idx_t)n, x, &add_pairs, &add_pairs_skipped);
        for (int64_t i = 0; i < n; i++) m->id_map.push_back(ids[i]);
        m->ntotal = h->ntotal;
        for (size_t i = prev; i < (size_t)m->ntotal; i++) m->rev_map[m->id_map[i]] = (idx_t)i;
        return 0;
    } catch (...) {
        return -1;
    }
}

/* For the bench and tests: the selection heuristic's pairs computed and
 * skipped (known closed) by cairn's inserts in this process so far. */
void cr_faiss_hnsw_add_stats(uint64_t* computed, uint64_t* skipped) {
    *computed = __atomic_load_n(&add_pairs, __ATOMIC_RELAXED);
    *skipped = __atomic_load_n(&add_pairs_skipped, __ATOMIC_RELAXED);
}

/* For tests: 1 when the HNSW graphs inside indexes a and b (IndexIDMap2
 * over IndexHNSW) are the same (levels, offsets, neighbour lists, entry
 * point, top level) and so are their id maps; 0 when not, -1 when either
 * is not of that kind. */
int cr_faiss_hnsw_graph_equal(const FaissIndex* a, const FaissIndex* b) {
    auto* ma = dynamic_cast<const faiss::IndexIDMap2*>(reinterpret_cast<const faiss::Index*>(a));
    auto* mb = dynamic_cast<const faiss::IndexIDMap2*>(reinterpret_cast<const faiss::Index*>(b));
    auto* ha = ma ? dynamic_cast<const faiss::IndexHNSW*>(ma->index) : nullptr;
    auto* hb = mb ? dynamic_cast<const faiss::IndexHNSW*>(mb->index) : nullptr;
    if (!ha || !hb) return -1;
    const faiss::HNSW &x = ha->hnsw, &y = hb->hnsw;
    return x.levels == y.levels && x.offsets == y.offsets && x.neighbors == y.neighbors &&
           x.entry_point == y.entry_point && x.max_level == y.max_level &&
           ma->id_map == mb->id_map;
}

/* For tests: checks the HNSW graph inside `index` (an IndexIDMap2 over an
 * IndexHNSW): the arrays' sizes agree; the entry point is on the top
 * level; every list is within its level's size, its entries first and -1
 * after, each entry a vector other than the list's owner that exists on
 * that level, none twice; and every vector from storage position `from`
 * on is reachable from the entry point (down the levels, then along layer
 * 0). 0 all hold, 1 one does not (why says which, NUL-terminated, within
 * n bytes), -1 not an HNSW index. */
int cr_faiss_hnsw_check(const FaissIndex* index, int64_t from, char* why, size_t n) {
    auto* m = dynamic_cast<const faiss::IndexIDMap2*>(reinterpret_cast<const faiss::Index*>(index));
    auto* h = m ? dynamic_cast<const faiss::IndexHNSW*>(m->index) : nullptr;
    if (!h) return -1;
    const faiss::HNSW& g = h->hnsw;
    const size_t nt = (size_t)h->ntotal;
#define FAIL(...) do { snprintf(why, n, __VA_ARGS__); return 1; } while (0)
    if (g.levels.size() != nt || g.offsets.size() != nt + 1 || g.neighbors.size() != g.offsets[nt])
        FAIL("array sizes: %zu levels, %zu offsets, %zu neighbours for %zu vectors",
             g.levels.size(), g.offsets.size(), g.neighbors.size(), nt);
    if (nt == 0) return 0;
    if (g.entry_point < 0 || (size_t)g.entry_point >= nt || g.levels[(size_t)g.entry_point] - 1 != g.max_level)
        FAIL("entry point %d is not on the top level %d", g.entry_point, g.max_level);
    for (size_t i = 0; i < nt; i++) {
        if (g.levels[i] < 1 || g.levels[i] - 1 > g.max_level) FAIL("vector %zu has level %d", i, g.levels[i]);
        for (int l = 0; l < g.levels[i]; l++) {
            size_t b, e;
            g.neighbor_range((idx_t)i, l, &b, &e);
            if (e > g.offsets[i + 1] || e - b != (size_t)g.nb_neighbors(l))
                FAIL("vector %zu level %d: list of %zu slots", i, l, e - b);
            bool end = false;
            for (size_t j = b; j < e; j++) {
                int v = g.neighbors[j];
                if (v == -1) { end = true; continue; }
                if (end) FAIL("vector %zu level %d: an entry after -1", i, l);
                if (v < 0 || (size_t)v >= nt) FAIL("vector %zu level %d: link to %d (not a vector)", i, l, v);
                if ((size_t)v == i) FAIL("vector %zu level %d: links to itself", i, l);
                if (g.levels[(size_t)v] <= l) FAIL("vector %zu level %d: link to %d, not on that level", i, l, v);
                for (size_t k = b; k < j; k++)
                    if (g.neighbors[k] == v) FAIL("vector %zu level %d: %d twice", i, l, v);
            }
        }
    }
    /* reachable: the nodes of each level reached from the entry point on
     * the level above, then that level's links; layer 0 last */
    std::vector<char> seen(nt, 0);
    std::vector<int> stack;
    seen[(size_t)g.entry_point] = 1;
    for (int l = g.max_level; l >= 0; l--) {
        stack.clear();
        for (size_t i = 0; i < nt; i++)
            if (seen[i]) stack.push_back((int)i);
        while (!stack.empty()) {
            int u = stack.back();
            stack.pop_back();
            if (g.levels[(size_t)u] <= l) continue;
            size_t b, e;
            g.neighbor_range(u, l, &b, &e);
            for (size_t j = b; j < e && g.neighbors[j] >= 0; j++) {
                int v = g.neighbors[j];
                if (!seen[(size_t)v]) { seen[(size_t)v] = 1; stack.push_back(v); }
            }
        }
    }
    for (size_t i = from > 0 ? (size_t)from : 0; i < nt; i++)
        if (!seen[i]) FAIL("vector %zu is not reachable from the entry point", i);
#undef FAIL
    return 0;
}

} /* extern "C" */

