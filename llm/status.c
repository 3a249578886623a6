/* status.c — cl_status names and the thread's last error message. */
#include "llm_int.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char errmsg[1024];

const char *cl_status_str(cl_status s)
{
    switch (s) {
    case CL_OK: return "ok";
    case CL_ERR_IO: return "i/o error";
    case CL_ERR_FORMAT: return "format error";
    case CL_ERR_NOMEM: return "out of memory";
    case CL_ERR_NOTFOUND: return "not found";
    case CL_ERR_TYPE: return "type mismatch";
    case CL_ERR_RANGE: return "out of range";
    case CL_ERR_UNSUPPORTED: return "unsupported";
    case CL_ERR_INVALID: return "invalid argument";
    }
    return "unknown status";
}

const char *cl_errmsg(void) { return errmsg; }

cl_status cl_err(cl_status s, const char *fmt, ...)
{
    char tmp[sizeof errmsg]; /* the arguments may include cl_errmsg() itself */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(errmsg, tmp, sizeof errmsg);
    return s;
}
