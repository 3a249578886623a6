/* lex.c — cairn's SQL lexer: enough of SQLite's token rules to split
 * statements, find cairn's own statements and report unterminated strings,
 * identifiers and comments with their line and column. */
#include "sql_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void cq_line_col(const char *text, size_t off, int *line, int *col)
{
    size_t i;
    *line = 1; *col = 1;
    for (i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') { ++*line; *col = 1; }
        else if (((unsigned char)text[i] & 0xC0) != 0x80) ++*col;
    }
}

static cq_tok_kind fail(const char *text, size_t off, cq_tok *t, char *err, size_t errsz,
                        const char *what)
{
    int line, col;
    cq_line_col(text, off, &line, &col);
    snprintf(err, errsz, "line %d, column %d: %s", line, col, what);
    t->kind = CQ_T_ERROR;
    t->off = off;
    t->len = 0;
    return CQ_T_ERROR;
}

static int word_char(unsigned char c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

cq_tok_kind cq_lex_next(const char *text, size_t *pos, cq_tok *t, char *err, size_t errsz)
{
    size_t p = *pos, s;
    unsigned char c;
    for (;;) {                                   /* blanks and comments */
        while (text[p] == ' ' || text[p] == '\t' || text[p] == '\n' || text[p] == '\r' ||
               text[p] == '\f' || text[p] == '\v')
            p++;
        if (text[p] == '-' && text[p + 1] == '-') {
            while (text[p] && text[p] != '\n') p++;
        } else if (text[p] == '/' && text[p + 1] == '*') {
            const char *e = strstr(text + p + 2, "*/");
            if (!e) return fail(text, p, t, err, errsz, "unterminated /* comment");
            p = (size_t)(e - text) + 2;
        } else {
            break;
        }
    }
    s = p;
    c = (unsigned char)text[p];
    t->off = s;
    if (!c) {
        t->kind = CQ_T_END;
    } else if (c == '\'' || c == '"' || c == '`' || c == '[') {
        char close = c == '[' ? ']' : (char)c;
        for (p++;; p++) {
            if (!text[p])
                return fail(text, s, t, err, errsz,
                            c == '\'' ? "unterminated string (missing closing ')"
                                      : "unterminated quoted identifier");
            if (text[p] == close) {
                if (close != ']' && text[p + 1] == close) { p++; continue; }
                break;
            }
        }
        p++;
        t->kind = c == '\'' ? CQ_T_STRING : CQ_T_QUOTED;
    } else if (isdigit(c) || (c == '.' && isdigit((unsigned char)text[p + 1]))) {
        while (isalnum((unsigned char)text[p]) || text[p] == '.' || text[p] == '_' ||
               ((text[p] == '+' || text[p] == '-') && (text[p - 1] == 'e' || text[p - 1] == 'E')))
            p++;
        t->kind = CQ_T_NUMBER;
    } else if (word_char(c)) {
        while (word_char((unsigned char)text[p])) p++;
        t->kind = CQ_T_WORD;
    } else {
        static const char *const two[] = { "<=", ">=", "<>", "!=", "==", "||", "<<", ">>", "->" };
        size_t i;
        p++;
        for (i = 0; i < sizeof two / sizeof *two; i++)
            if (text[s] == two[i][0] && text[s + 1] == two[i][1]) { p++; break; }
        t->kind = CQ_T_PUNCT;
    }
    t->len = p - s;
    *pos = p;
    return t->kind;
}

int cq_is_complete(const char *text)
{
    size_t pos = 0;
    cq_tok t;
    char err[8];
    int last_semi = 0, any = 0;
    while (cq_lex_next(text, &pos, &t, err, sizeof err) != CQ_T_END) {
        if (t.kind == CQ_T_ERROR) return 0;          /* unterminated: read on */
        last_semi = t.kind == CQ_T_PUNCT && t.len == 1 && text[t.off] == ';';
        any |= !last_semi;
    }
    return any && last_semi;
}
