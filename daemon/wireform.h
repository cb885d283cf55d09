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
 * CR and a stuffing '.'. The vector paths store whole blocks, but never
 * past twice what they have read. */
#define WIREFORM_ROOM(n) (2 * (n))

/* How the conversion runs; the fastest this CPU has is used unless a
 * test chooses. All give the same bytes. */
enum wireform_path {
	WIREFORM_BYTES,    /* portable, one byte at a time */
	WIREFORM_SHUFFLE,  /* x86 SSSE3: 16 bytes per step */
	WIREFORM_EXPAND    /* x86 AVX-512 VBMI2: 32 bytes per step */
};

/* Uses path p from now on; false if this build or CPU lacks it. */
bool wireform_choose(enum wireform_path p);

/* Writes in[0..n) in wire form to out (WIREFORM_ROOM(n) bytes);
 * returns the number of bytes written. */
size_t wireform_copy(struct wireform *w, char *out, const char *in,
    size_t n);

#endif
