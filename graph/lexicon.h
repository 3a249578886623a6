/* lexicon.h — word lists of the rules extractor (internal to graph/). */
#ifndef CAIRN_GRAPH_LEXICON_H
#define CAIRN_GRAPH_LEXICON_H

#include "graph_int.h"

enum {
    LXI_STOP, LXI_MONTH, LXI_DAY, LXI_SUFFIX, LXI_ORGWORD, LXI_PLACEHEAD, LXI_PLACE,
    LXI_TITLE, LXI_ROLE, LXI_FIRST, LXI_UNIT, LXI_SCALE, LXI_CURCODE, LXI_CURWORD,
    LXI_CONNECT, LXI_COPULA, LXI_AUX, LXI_DET, LXI_VERB, LXI_PREP, LXI_ROLEADJ,
    LX_NLISTS
};
#define LX(name) (1u << LXI_##name)

#define LX_SLOTS 4096
typedef struct lx_slot { const char *word; uint8_t len; uint32_t bits; } lx_slot;
typedef struct cg_lexicon { lx_slot slot[LX_SLOTS]; size_t n; } cg_lexicon;

cc_status cg_lexicon_init(cg_lexicon *lx);
/* Bits (LX(...)) of a lowercase word; 0 when unknown or 32+ bytes. */
uint32_t  cg_lexicon_get(const cg_lexicon *lx, const char *w, size_t n);

#endif
