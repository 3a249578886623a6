/* serve_web.c — the trace browser's page (web/index.html, app.js, app.css),
 * compiled into the binary with .incbin and served at /, with a
 * Content-Security-Policy that allows only this server's own scripts,
 * styles and API (no inline script or style, no frames, no plugins). */
#include "serve.h"

#include <string.h>

/* WEB_FILE(sym, path): sym[] (the bytes, then a NUL) and sym_end. */
#define WEB_FILE(sym, path)                                 \
    __asm__(".section .rodata\n"                            \
            ".global " #sym "\n"                            \
            #sym ":\n"                                      \
            ".incbin \"" CAIRN_SOURCE_DIR "/" path "\"\n"   \
            ".global " #sym "_end\n"                        \
            #sym "_end:\n"                                  \
            ".byte 0\n"                                     \
            ".previous\n");                                 \
    extern const char sym[], sym##_end[];

WEB_FILE(cairn_web_index_html, "web/index.html")
WEB_FILE(cairn_web_app_js, "web/app.js")
WEB_FILE(cairn_web_app_css, "web/app.css")

static const char csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none';"
    " form-action 'none'";

static const struct {
    const char *path, *ctype;
    const char *data, *end;
} files[] = {
    {"/", "text/html; charset=utf-8", cairn_web_index_html, cairn_web_index_html_end},
    {"/index.html", "text/html; charset=utf-8", cairn_web_index_html, cairn_web_index_html_end},
    {"/app.js", "text/javascript; charset=utf-8", cairn_web_app_js, cairn_web_app_js_end},
    {"/app.css", "text/css; charset=utf-8", cairn_web_app_css, cairn_web_app_css_end},
};
#define N_FILES (sizeof files / sizeof *files)

void serve_web_handle(const char *method, const char *url, serve_reply *rp)
{
    size_t i;
    for (i = 0; i < N_FILES && strcmp(url, files[i].path); i++) {}
    C_ASSERT(i < N_FILES);
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        rp->allow = "GET, HEAD";
        serve_reply_error(rp, 405, "method_not_allowed", "%s allows GET", url);
        return;
    }
    rp->status = 200;
    rp->ctype = files[i].ctype;
    rp->static_body = files[i].data;
    rp->static_len = (size_t)(files[i].end - files[i].data);
    serve_reply_header(rp, "Content-Security-Policy", "%s", csp);
    serve_reply_header(rp, "X-Content-Type-Options", "nosniff");
    serve_reply_header(rp, "Referrer-Policy", "no-referrer");
    serve_reply_header(rp, "X-Frame-Options", "DENY");
    serve_reply_header(rp, "Cache-Control", "no-cache");
}
