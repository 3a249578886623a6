/* derived.c — what ingestion and its callers need from the graph module:
 * ingestion options and the catch-up of derived indexes after writes.
 * Extraction during ingestion is not wired yet (issue 4); today these add
 * nothing to retrieval's own settings and vector sync. */
#include "graph.h"

cc_status cg_ingest_opts_from_kb(cc_kb *kb, cr_ingest_opts *o)
{
    return cr_ingest_opts_from_kb(kb, o);
}

cc_status cg_sync_derived(cc_kb *kb, cr_vectors_stats *vs)
{
    cr_vectors_stats tmp;
    return cr_vectors_sync(kb, vs ? vs : &tmp);
}
