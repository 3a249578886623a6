/*
 * vclone.cpp — a deep copy of the FAISS index inside a cr_vindex
 * (cr_vindex_clone, vindex.c): the id map, the HNSW graph and the stored
 * vectors copied as arrays (memcpy, no HNSW inserts), and for cairn's
 * vectorised storage (HNSW or flat) its int8 search copy too
 * (faiss_simd.cpp), so
 * the copy searches exactly as its source and is ready for its first
 * search. FAISS's own clone_index is not used for the HNSW case: it
 * copies the storage by its FAISS class, which would drop the search copy
 * (a full re-quantisation of every vector at the first search).
 */
#include <faiss/c_api/Index_c.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/clone_index.h>

#include <memory>
#include <vector>
#include <typeinfo>

extern "C" void cr_faiss_huge_advise(const void* p, size_t n);   /* faiss_simd.cpp */

namespace {
/* Room for n elements in dst before a copy-assignment, which otherwise
 * reallocates to exactly n whenever the index has grown (every catch-up):
 * a fresh allocation of ~170 MB of vectors, faulted in page by page. The
 * old storage is freed first (no peak of two), and 1/8 is kept spare. */
template <class T> void room(std::vector<T>& dst, size_t n) {
    if (dst.capacity() >= n) return;
    std::vector<T>().swap(dst);
    dst.reserve(n + n / 8);
    /* large arrays on huge pages from the start (the float vectors are
     * read at random by every search: faiss_simd.cpp, huge_xb) */
    cr_faiss_huge_advise(dst.data(), dst.capacity() * sizeof(T));
}
/* The flat index `ix` is (IndexFlat, IndexFlatIP or cairn's vectorised
 * storage, a subclass of IndexFlatIP: faiss_simd.cpp), or null. */
const faiss::IndexFlat* flat_of(const faiss::Index* ix) {
    if (dynamic_cast<const faiss::IndexHNSW*>(ix)) return nullptr;
    return dynamic_cast<const faiss::IndexFlat*>(ix);
}

} // namespace

extern "C" {
/* faiss_simd.cpp */
int cr_faiss_simd_storage(FaissIndex* index);
int cr_faiss_simd_copy_search(const FaissIndex* from, FaissIndex* to, int64_t same);

/* A deep copy of `index` (an IndexIDMap2 over IndexFlatIP or over
 * IndexHNSWFlat, as vindex.c makes them) into *out. 0 done, -1 out of
 * memory or a FAISS error, -2 an index of another shape. The source may
 * be searched on other threads meanwhile (nothing in it is written, bar
 * its search copy's own mutex); it must not be changed meanwhile.
 * Declared in vindex.c, its one caller. */
int cr_faiss_clone(const FaissIndex* index, FaissIndex** out) {
    *out = nullptr;
    try {
        auto* m = dynamic_cast<const faiss::IndexIDMap2*>(reinterpret_cast<const faiss::Index*>(index));
        if (!m || !m->index || !m->own_fields) return -2;
        std::unique_ptr<faiss::Index> sub;
        if (auto* h = dynamic_cast<const faiss::IndexHNSWFlat*>(m->index)) {
            auto* st = dynamic_cast<const faiss::IndexFlat*>(h->storage);
            if (typeid(*h) != typeid(faiss::IndexHNSWFlat) || !st || !h->own_fields ||
                st->metric_type != faiss::METRIC_INNER_PRODUCT)
                return -2;
            /* the graph (levels, offsets, neighbours), then the vectors as a
             * plain IndexFlat, swapped for the vectorised one below */
            std::unique_ptr<faiss::IndexFlat> nst(new faiss::IndexFlat(*st));
            std::unique_ptr<faiss::IndexHNSWFlat> nh(new faiss::IndexHNSWFlat(*h));
            nh->storage = nst.release();   /* owned by nh from here (own_fields) */
            sub.reset(nh.release());
        } else if (m->index->metric_type == faiss::METRIC_INNER_PRODUCT && flat_of(m->index)) {
            /* the vectors as a plain IndexFlat, swapped for the vectorised
             * one below */
            sub.reset(new faiss::IndexFlat(*flat_of(m->index)));
        } else {
            return -2;
        }
        std::unique_ptr<faiss::IndexIDMap2> nm(new faiss::IndexIDMap2(*m));
        nm->index = sub.release();         /* owned by nm from here (own_fields) */
        FaissIndex* c = reinterpret_cast<FaissIndex*>(nm.get());
        if (cr_faiss_simd_storage(c) < 0 || cr_faiss_simd_copy_search(index, c, 0) < 0) return -1;
        *out = reinterpret_cast<FaissIndex*>(nm.release());
        return 0;
    } catch (...) {
        return -1;
    }
}

/* The same into `dst`, an index of the same shape (both HNSW or both
 * flat, same dimension) that no other thread uses: its arrays are
 * overwritten in place, reusing their memory when it is large enough
 * (std::vector copy-assignment keeps the capacity; the search copy's
 * buffers likewise), so the copy costs a memcpy of memory already
 * faulted in rather than fresh pages (on a VM a fresh page costs more than
 * the copy: docs/benchmarks.md, spareclone).
 *
 * `same`: how many of dst's vectors are known to equal the first `same`
 * of `index` (dst is an unchanged copy of `index` made when it had `same`
 * vectors, and `index` has only been appended to since: vindex.c keeps
 * that account); 0 when unknown. Then only the vectors, graph levels,
 * offsets and ids after them are copied (the stored vectors are most of
 * the bytes: 172 of ~300 MB on 112k vectors at 384 dimensions); the
 * neighbour lists, which an add rewrites anywhere, are copied whole. A
 * `same` that dst's sizes do not bear out falls back to the whole copy.
 * 0 done (a whole copy), 1 done (the tail only), -1 failure (dst is then
 * unusable: close it), -2 not the same shape (dst unchanged). */
int cr_faiss_clone_into(const FaissIndex* index, FaissIndex* dst, int64_t same) {
    auto* m = dynamic_cast<const faiss::IndexIDMap2*>(reinterpret_cast<const faiss::Index*>(index));
    auto* dm = dynamic_cast<faiss::IndexIDMap2*>(reinterpret_cast<faiss::Index*>(dst));
    if (!m || !dm || !m->index || !dm->index || !m->own_fields || !dm->own_fields ||
        m->d != dm->d || typeid(*m->index) != typeid(*dm->index))
        return -2;
    auto* h = dynamic_cast<const faiss::IndexHNSWFlat*>(m->index);
    auto* dh = dynamic_cast<faiss::IndexHNSWFlat*>(dm->index);
    const faiss::IndexFlat *st;
    faiss::IndexFlat* dst_st;
    if (h && dh) {
        st = dynamic_cast<const faiss::IndexFlat*>(h->storage);
        dst_st = dynamic_cast<faiss::IndexFlat*>(dh->storage);
        if (typeid(*h) != typeid(faiss::IndexHNSWFlat) || !st || !dst_st || !h->own_fields ||
            !dh->own_fields || st->metric_type != faiss::METRIC_INNER_PRODUCT ||
            dst_st->metric_type != faiss::METRIC_INNER_PRODUCT)
            return -2;
    } else if (!h && !dh && m->index->metric_type == faiss::METRIC_INNER_PRODUCT &&
               dm->index->metric_type == faiss::METRIC_INNER_PRODUCT && flat_of(m->index)) {
        st = flat_of(m->index);
        dst_st = dynamic_cast<faiss::IndexFlat*>(dm->index);
    } else {
        return -2;
    }
    /* the tail copy when dst's sizes agree with `same` and the tail fits in
     * the room dst's arrays already have (no reallocation) */
    const size_t cs = st->code_size, un = (size_t)same;
    bool tail = same > 0 && same <= st->ntotal && dst_st->ntotal == same &&
                dm->ntotal == same && m->ntotal == st->ntotal && dst_st->code_size == cs &&
                dst_st->codes.size() == un * cs && st->codes.size() == (size_t)st->ntotal * cs &&
                dst_st->codes.capacity() >= st->codes.size() &&
                dm->id_map.size() == un && m->id_map.size() == (size_t)m->ntotal &&
                dm->rev_map.size() == un;
    if (tail && h)
        tail = dh->hnsw.levels.size() == un && h->hnsw.levels.size() == (size_t)st->ntotal &&
               dh->hnsw.offsets.size() == un + 1 && h->hnsw.offsets.size() == (size_t)st->ntotal + 1;
    try {
        if (tail) {
            /* the vectors after the first `same`: dst's search copy is
             * overwritten from the source's below (or, if the source's is
             * stale, dst's own is stale too: ntotal changes) */
            dst_st->codes.insert(dst_st->codes.end(), st->codes.begin() + un * cs, st->codes.end());
            dst_st->ntotal = st->ntotal;
            if (h) {   /* neighbour lists whole; levels and offsets appended */
                const faiss::HNSW& g = h->hnsw;
                faiss::HNSW& dg = dh->hnsw;
                room(dg.neighbors, g.neighbors.size());
                dg.neighbors = g.neighbors;
                dg.levels.insert(dg.levels.end(), g.levels.begin() + un, g.levels.end());
                dg.offsets.insert(dg.offsets.end(), g.offsets.begin() + un + 1, g.offsets.end());
                dg.entry_point = g.entry_point;
                dg.rng = g.rng;
                dg.max_level = g.max_level;
                dg.efConstruction = g.efConstruction;
                dg.efSearch = g.efSearch;
                dg.check_relative_distance = g.check_relative_distance;
                dg.upper_beam = g.upper_beam;
                dg.search_bounded_queue = g.search_bounded_queue;
                dg.assign_probas = g.assign_probas;
                dg.cum_nneighbor_per_level = g.cum_nneighbor_per_level;
                dh->ntotal = h->ntotal;
                dh->is_trained = h->is_trained;
            }
            for (size_t i = un; i < m->id_map.size(); i++) {
                dm->id_map.push_back(m->id_map[i]);
                dm->rev_map[m->id_map[i]] = (faiss::Index::idx_t)i;
            }
            dm->ntotal = m->ntotal;
            dm->is_trained = m->is_trained;
            return cr_faiss_simd_copy_search(index, dst, same) < 0 ? -1 : 1;
        }
        /* the vectors: reset() marks a vectorised storage's search copy
         * stale (and keeps the vector's capacity), then the bytes */
        dst_st->reset();
        room(dst_st->codes, st->codes.size());
        dst_st->codes = st->codes;
        dst_st->ntotal = st->ntotal;
        dst_st->is_trained = st->is_trained;
        if (h) {   /* the graph and the HNSW fields, the storage kept */
            faiss::Index* keep = dh->storage;
            room(dh->hnsw.neighbors, h->hnsw.neighbors.size());
            room(dh->hnsw.offsets, h->hnsw.offsets.size());
            room(dh->hnsw.levels, h->hnsw.levels.size());
            *dh = *h;
            dh->storage = keep;
            dh->own_fields = true;
        }
        faiss::Index* keep = dm->index;   /* the id map and its reverse */
        room(dm->id_map, m->id_map.size());
        *dm = *m;
        dm->index = keep;
        dm->own_fields = true;
        return cr_faiss_simd_copy_search(index, dst, 0) < 0 ? -1 : 0;
    } catch (...) {
        return -1;
    }
}

} /* extern "C" */
