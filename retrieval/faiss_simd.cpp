/*
 * faiss_simd.cpp — a vectorised inner-product distance computer for the
 * storage of cairn's HNSW index.
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
 */
#include <faiss/c_api/Index_c.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/utils/distances.h>

#include <immintrin.h>
#include <cstddef>
#include <exception>

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

struct SimdFlatIP : faiss::IndexFlatIP {
    explicit SimdFlatIP(idx_t d) : IndexFlatIP(d) {}
    faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override {
        return new SimdIPDis(*this);
    }
};

} // namespace

extern "C" {

/* Gives the IndexHNSWFlat (inner product) inside `index` (an IndexIDMap2 or
 * the HNSW index itself) the vectorised storage; anything else is left
 * alone. Returns 1 when swapped, 0 when not applicable, -1 on failure
 * (the index is unchanged then). Declared in vindex.c, its one caller. */
int cr_faiss_simd_storage(FaissIndex* index) {
    try {
        faiss::Index* ix = reinterpret_cast<faiss::Index*>(index);
        if (auto* m = dynamic_cast<faiss::IndexIDMap2*>(ix)) ix = m->index;
        auto* h = dynamic_cast<faiss::IndexHNSWFlat*>(ix);
        if (!h || !h->own_fields) return 0;
        auto* st = dynamic_cast<faiss::IndexFlat*>(h->storage);
        if (!st || st->metric_type != faiss::METRIC_INNER_PRODUCT ||
            dynamic_cast<SimdFlatIP*>(st))
            return 0;
        auto* ns = new SimdFlatIP(st->d);
        ns->codes.swap(st->codes);
        ns->ntotal = st->ntotal;
        ns->is_trained = st->is_trained;
        h->storage = ns;
        delete st;
        return 1;
    } catch (...) {
        return -1;
    }
}

/* 1 when the vectorised kernel is in use on this CPU. */
int cr_faiss_simd_active(void) { return ip == ip_avx2; }

} /* extern "C" */
