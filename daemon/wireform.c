#include "config.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "daemon/wireform.h"

/* Emits the line end for the LF at hand and what the next byte needs. */
static char *
put_lf(struct wireform *w, char *o)
{
	if (w->last != '\r')
		*o++ = '\r';
	*o++ = '\n';
	w->last = '\n';
	w->line_start = true;
	return o;
}

/* The byte-at-a-time form: the reference, and the tail of a buffer. */
static char *
copy_bytes(struct wireform *w, char *o, const char *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		if (c == '\n') {
			o = put_lf(w, o);
			continue;
		}
		if (w->line_start && c == '.')
			*o++ = '.';
		*o++ = c;
		w->last = c;
		w->line_start = false;
	}
	return o;
}

#if defined(__SSE2__)
/* Sixteen bytes per step: copy the block whole, then keep only what
 * precedes its first LF. Short mail lines make a per-line memchr() and
 * memcpy() call most of RETR's CPU; this loop is a few instructions per
 * block. The state lives in locals: stores through a char pointer could
 * alias it and would force a reload at every step. */
static size_t
copy_blocks(struct wireform *w, char **op, const char *in, size_t n)
{
	const __m128i lf = _mm_set1_epi8('\n');
	bool line_start = w->line_start;
	char last = w->last, *o = *op;
	size_t i = 0;

	while (i + 16 <= n) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
		unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf));
		size_t k;

		if (line_start && in[i] != '\n') {
			if (in[i] == '.')
				*o++ = '.';
			line_start = false;
		}
		_mm_storeu_si128((__m128i *)(void *)o, v);
		if (mask == 0) {
			o += 16;
			i += 16;
			last = in[i - 1];
			continue;
		}
		k = (size_t)__builtin_ctz(mask);
		o += k;
		if ((k > 0 ? in[i + k - 1] : last) != '\r')
			*o++ = '\r';
		*o++ = '\n';
		last = '\n';
		line_start = true;
		i += k + 1;
	}
	w->line_start = line_start;
	w->last = last;
	*op = o;
	return i;
}
#endif

size_t
wireform_copy(struct wireform *w, char *out, const char *in, size_t n)
{
	char *o = out;
	size_t done = 0;

#if defined(__SSE2__)
	done = copy_blocks(w, &o, in, n);
#endif
	o = copy_bytes(w, o, in + done, n - done);
	return (size_t)(o - out);
}
