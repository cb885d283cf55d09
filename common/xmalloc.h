#ifndef POSTERN_XMALLOC_H
#define POSTERN_XMALLOC_H

#include <stddef.h>

/* Allocation either succeeds or the process exits: a worker that cannot
 * allocate a few bytes cannot serve its session anyway. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Free a buffer that held a secret, wiping it first. */
void freezero(void *p, size_t n);
void free_secret_str(char *s);

#endif
