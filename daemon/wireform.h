#ifndef POSTERN_WIREFORM_H
#define POSTERN_WIREFORM_H

#include <stdbool.h>
#include <stddef.h>

/* A stored message in POP3 wire form (RFC 1939 §3): every line ends in
 * CRLF (a bare LF gains its CR) and a line that starts with '.' gets one
 * more. The state carries across calls, so a line may span reads. */
struct wireform {
	bool line_start;  /* the next byte begins a line */
	char last;        /* the byte before it ('\n' at a line start) */
};

#define WIREFORM_INIT { .line_start = true, .last = '\n' }

/* Room that wireform_copy may need for n input bytes: each LF can gain a
 * CR and a stuffing '.', and the fast path stores 16 bytes at a time. */
#define WIREFORM_ROOM(n) (2 * (n) + 32)

/* Writes in[0..n) in wire form to out (WIREFORM_ROOM(n) bytes);
 * returns the number of bytes written. */
size_t wireform_copy(struct wireform *w, char *out, const char *in,
    size_t n);

#endif
