#ifndef POSTERN_BASE64_H
#define POSTERN_BASE64_H

#include <stddef.h>

/* Encoded length of n bytes, without the terminating NUL. */
size_t base64_encoded_len(size_t n);
/* Writes base64 of in[0..n) and a NUL into out (base64_encoded_len(n)+1 bytes). */
void base64_encode(const unsigned char *in, size_t n, char *out);
/* Strict RFC 4648 decode: any character outside the alphabet, a misplaced
 * '=' or a length that is not a multiple of 4 is an error (-1), as RFC 5034
 * asks. out must hold n/4*3 bytes; returns the decoded length. */
long base64_decode(const char *in, size_t n, unsigned char *out);

#endif
