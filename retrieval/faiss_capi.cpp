/*
 * faiss_capi.cpp — our implementation of exactly the FAISS C API functions
 * cairn calls, for systems (Debian) whose libfaiss-dev ships the C API
 * headers but not libfaiss_c. The official headers are included so the
 * compiler checks every signature; the build uses an upstream libfaiss_c
 * instead when one is found (retrieval/CMakeLists.txt).
 *
 * Every function catches all exceptions, records the message for
 * faiss_get_last_error() and returns a FaissErrorCode, as upstream does.
 */
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <faiss/c_api/utils/distances_c.h>

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>

#include <exception>
#include <new>
#include <string>

static thread_local std::string last_error;

#define TRY try {
#define CATCH                                                              \
    }                                                                      \
    catch (faiss::FaissException & e) { last_error = e.what(); return FAISS_EXCEPT; } \
    catch (std::exception & e) { last_error = e.what(); return STD_EXCEPT; } \
    catch (...) { last_error = "unknown exception"; return UNKNOWN_EXCEPT; } \
    return OK;

#define IDX(p) reinterpret_cast<faiss::Index*>(p)
#define CIDX(p) reinterpret_cast<const faiss::Index*>(p)

extern "C" {

const char* faiss_get_last_error() { return last_error.c_str(); }

int faiss_index_factory(FaissIndex** p_index, int d, const char* description,
                        FaissMetricType metric) {
    TRY
    *p_index = reinterpret_cast<FaissIndex*>(faiss::index_factory(
            d, description, static_cast<faiss::MetricType>(metric)));
    CATCH
}

void faiss_Index_free(FaissIndex* obj) { delete IDX(obj); }
int faiss_Index_d(const FaissIndex* index) { return CIDX(index)->d; }
idx_t faiss_Index_ntotal(const FaissIndex* index) { return CIDX(index)->ntotal; }
FaissMetricType faiss_Index_metric_type(const FaissIndex* index) {
    return static_cast<FaissMetricType>(CIDX(index)->metric_type);
}

int faiss_Index_add_with_ids(FaissIndex* index, idx_t n, const float* x,
                             const idx_t* xids) {
    TRY IDX(index)->add_with_ids(n, x, xids); CATCH
}

int faiss_Index_search(const FaissIndex* index, idx_t n, const float* x,
                       idx_t k, float* distances, idx_t* labels) {
    TRY CIDX(index)->search(n, x, k, distances, labels); CATCH
}

int faiss_Index_remove_ids(FaissIndex* index, const FaissIDSelector* sel,
                           size_t* n_removed) {
    TRY
    size_t n = IDX(index)->remove_ids(*reinterpret_cast<const faiss::IDSelector*>(sel));
    if (n_removed) *n_removed = n;
    CATCH
}

int faiss_Index_reconstruct_n(const FaissIndex* index, idx_t i0, idx_t ni,
                              float* recons) {
    TRY CIDX(index)->reconstruct_n(i0, ni, recons); CATCH
}

int faiss_IDSelectorBatch_new(FaissIDSelectorBatch** p_sel, size_t n,
                              const idx_t* indices) {
    TRY
    *p_sel = reinterpret_cast<FaissIDSelectorBatch*>(new faiss::IDSelectorBatch(n, indices));
    CATCH
}

void faiss_IDSelector_free(FaissIDSelector* obj) {
    delete reinterpret_cast<faiss::IDSelector*>(obj);
}

FaissIndexIDMap2* faiss_IndexIDMap2_cast(FaissIndex* index) {
    return reinterpret_cast<FaissIndexIDMap2*>(dynamic_cast<faiss::IndexIDMap2*>(IDX(index)));
}

void faiss_IndexIDMap2_id_map(FaissIndexIDMap2* index, idx_t** p_id_map, size_t* p_size) {
    auto* m = reinterpret_cast<faiss::IndexIDMap2*>(index);
    if (p_id_map) *p_id_map = m->id_map.data();
    if (p_size) *p_size = m->id_map.size();
}

FaissIndex* faiss_IndexIDMap2_sub_index(FaissIndexIDMap2* index) {
    return reinterpret_cast<FaissIndex*>(reinterpret_cast<faiss::IndexIDMap2*>(index)->index);
}

int faiss_ParameterSpace_new(FaissParameterSpace** space) {
    TRY *space = reinterpret_cast<FaissParameterSpace*>(new faiss::ParameterSpace()); CATCH
}

void faiss_ParameterSpace_free(FaissParameterSpace* obj) {
    delete reinterpret_cast<faiss::ParameterSpace*>(obj);
}

int faiss_ParameterSpace_set_index_parameter(const FaissParameterSpace* space,
                                             FaissIndex* index, const char* name,
                                             double value) {
    TRY
    reinterpret_cast<const faiss::ParameterSpace*>(space)->set_index_parameter(
            IDX(index), name, value);
    CATCH
}

int faiss_write_index(const FaissIndex* idx, FILE* f) {
    TRY faiss::write_index(CIDX(idx), f); CATCH
}

int faiss_read_index(FILE* f, int io_flags, FaissIndex** p_out) {
    TRY *p_out = reinterpret_cast<FaissIndex*>(faiss::read_index(f, io_flags)); CATCH
}

void faiss_set_distance_compute_blas_threshold(int value) {
    faiss::distance_compute_blas_threshold = value;
}

int faiss_get_distance_compute_blas_threshold() {
    return faiss::distance_compute_blas_threshold;
}

} /* extern "C" */
