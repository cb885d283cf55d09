#ifndef POSTERN_CMDLINE_H
#define POSTERN_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 2449 §4: a command line is at most 255 octets with its CRLF. */
#define CMDLINE_MAX 255
/* RFC 5034 §4: AUTH continuation lines have no limit; GSSAPI tokens with
 * large PACs reach tens of KiB. */
#define AUTHLINE_MAX 65536

enum cmdline_status {
	CMDLINE_OK,
	CMDLINE_EMPTY,
	CMDLINE_NUL,       /* a NUL byte in the line */
	CMDLINE_BADCHAR,   /* control character or 8-bit byte in the keyword */
	CMDLINE_BADKEYWORD,
};

struct cmdline {
	char keyword[8];   /* upper-cased */
	char *args;        /* after the single space; "" if none */
};

/* Splits line (len bytes, NUL-terminated) into keyword and arguments. */
enum cmdline_status cmdline_parse(char *line, size_t len, struct cmdline *out);
/* A message number: decimal digits only, 1..max. */
bool parse_msgnum(const char *s, size_t max, size_t *out);
/* A non-negative line count for TOP. */
bool parse_count(const char *s, long *out);
/* Splits off the next space-separated word of *args; NULL when none. */
char *next_arg(char **args);

#endif
