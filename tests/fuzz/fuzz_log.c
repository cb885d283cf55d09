#include "config.h"

/* Stand-in for common/log.c in the fuzz targets: the messages are still
 * formatted (a bad argument for a format is still found) but go nowhere,
 * so a corrupt input logs no syslog line and costs no system call; with
 * FUZZ_LOG set in the environment they go to stderr, for reproducing.
 * fatal() aborts: a parser must never reach it on bad input. */

#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"

bool log_verbose;

void
log_open(const char *ident, int facility, bool to_stderr)
{
	(void)ident;
	(void)facility;
	(void)to_stderr;
}

void
log_set_prefix(const char *prefix)
{
	(void)prefix;
}

static void log_discard(const char *, va_list)
    __attribute__((format(printf, 1, 0)));

static void
log_discard(const char *fmt, va_list ap)
{
	static int to_stderr = -1;
	char msg[1024];

	if (to_stderr == -1)
		to_stderr = getenv("FUZZ_LOG") != NULL;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (to_stderr)
		fprintf(stderr, "log: %s\n", msg);
}

#define LOG_FN(name)                           \
	void name(const char *fmt, ...)        \
	{                                      \
		va_list ap;                    \
		va_start(ap, fmt);             \
		log_discard(fmt, ap);          \
		va_end(ap);                    \
	}

LOG_FN(log_info)
LOG_FN(log_warn)
LOG_FN(log_err)
LOG_FN(log_debug)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}
