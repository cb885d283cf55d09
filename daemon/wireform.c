#include "config.h"

#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define WIREFORM_X86 1
#endif

#include "daemon/wireform.h"

/* RFC 1939 §3 one byte at a time: the portable path, and the tail of a
 * buffer for the vector paths. */
static size_t
copy_bytes(struct wireform *w, char *out, const char *in, size_t n)
{
	char *o = out;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		if (c == '\n' && w->last != '\r')
			*o++ = '\r';
		else if (c == '.' && w->line_start)
			*o++ = '.';
		*o++ = c;
		w->last = c;
		w->line_start = c == '\n';
	}
	return (size_t)(o - out);
}

#if WIREFORM_X86
/*
 * The vector paths see a message as a run of blocks and never branch on
 * its content: a mail line is ~40 bytes, so a branch per line end was
 * mispredicted at every line and made most of RETR's CPU. Per block they
 * compute which bytes need a byte inserted before them (a CR before a
 * bare LF, a '.' before a '.' that starts a line), then place every byte
 * at once with a shuffle (SSSE3) or an expand (AVX-512 VBMI2).
 */

/* Bit i set: byte i of the block needs a byte inserted before it.
 * prev_cr/prev_lf: whether the byte before the block was CR / LF. */
static inline unsigned long long
insert_mask(unsigned long long lf, unsigned long long cr,
    unsigned long long dot, unsigned prev_cr, unsigned prev_lf)
{
	return (lf & ~(cr << 1 | prev_cr)) | (dot & (lf << 1 | prev_lf));
}

/* shuffles[m]: for 8 bytes whose insert mask is m, where each output byte
 * comes from in a 16-byte source that holds the 8 bytes, then what to
 * insert before each of them. */
static unsigned char shuffles[256][16] __attribute__((aligned(16)));

static void
make_shuffles(void)
{
	for (unsigned m = 0; m < 256; m++) {
		unsigned j = 0;

		for (unsigned i = 0; i < 8; i++) {
			if (m & 1u << i)
				shuffles[m][j++] = (unsigned char)(8 + i);
			shuffles[m][j++] = (unsigned char)i;
		}
		while (j < 16)
			shuffles[m][j++] = 0x80;	/* zero; overwritten */
	}
}

/* The byte to insert before each byte of v: CR before LF, else '.'. */
#define INSERTS(is_lf) \
	_mm_xor_si128(_mm_set1_epi8('.'), \
	    _mm_and_si128(is_lf, _mm_set1_epi8('.' ^ '\r')))

__attribute__((target("ssse3,popcnt")))
static inline char *
put_eight(char *o, __m128i src, unsigned m)
{
	__m128i s = _mm_load_si128((const __m128i *)(const void *)shuffles[m]);

	_mm_storeu_si128((__m128i *)(void *)o, _mm_shuffle_epi8(src, s));
	return o + 8 + __builtin_popcount(m);
}

/* 16 bytes per step, placed 8 at a time by a table-driven shuffle. */
__attribute__((target("ssse3,popcnt")))
static size_t
copy_shuffled(struct wireform *w, char **op, const char *in, size_t n)
{
	unsigned prev_cr = w->last == '\r', prev_lf = w->line_start;
	char *o = *op;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
		__m128i is_lf = _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'));
		__m128i ins = INSERTS(is_lf);
		unsigned lf = (unsigned)_mm_movemask_epi8(is_lf);
		unsigned cr = (unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')));
		unsigned dot = (unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
		unsigned m = (unsigned)insert_mask(lf, cr, dot, prev_cr, prev_lf);

		o = put_eight(o, _mm_unpacklo_epi64(v, ins), m & 0xff);
		o = put_eight(o, _mm_unpackhi_epi64(v, ins), m >> 8 & 0xff);
		prev_cr = cr >> 15;
		prev_lf = lf >> 15;
	}
	*op = o;
	return i;
}

#define EXPAND_TARGET "avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2,bmi2,popcnt"
#define ODD_BITS 0xaaaaaaaaaaaaaaaaull
#define EVEN_BITS 0x5555555555555555ull

/* after_index[j] = j + 1: a permutation that moves each byte one left. */
static const unsigned char after_index[64] __attribute__((aligned(64))) = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
	21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38,
	39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56,
	57, 58, 59, 60, 61, 62, 63, 0
};

/* 32 bytes per step into at most 64: each input byte owns two output
 * slots, the odd one for itself, the even one for an insert; pext drops
 * the even slots nobody uses and leaves where the input bytes land. */
__attribute__((target(EXPAND_TARGET)))
static size_t
copy_expanded(struct wireform *w, char **op, const char *in, size_t n)
{
	const __m512i next = _mm512_load_si512(after_index);
	unsigned prev_cr = w->last == '\r', prev_lf = w->line_start;
	char *o = *op;
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(in + i));
		unsigned long long lf = _mm256_cmpeq_epi8_mask(v, _mm256_set1_epi8('\n'));
		unsigned long long cr = _mm256_cmpeq_epi8_mask(v, _mm256_set1_epi8('\r'));
		unsigned long long dot = _mm256_cmpeq_epi8_mask(v, _mm256_set1_epi8('.'));
		unsigned long long m = insert_mask(lf, cr, dot, prev_cr, prev_lf) & 0xffffffffull;
		unsigned long long keep = ODD_BITS | _pdep_u64(m, EVEN_BITS);
		__mmask64 own = _pext_u64(ODD_BITS, keep);
		__m512i placed = _mm512_maskz_expand_epi8(own,
		    _mm512_zextsi256_si512(v));
		/* An insert slot takes its byte from the input byte after it. */
		__m512i after = _mm512_permutexvar_epi8(next, placed);
		__mmask64 before_lf = _mm512_cmpeq_epi8_mask(after,
		    _mm512_set1_epi8('\n'));
		__m512i ins = _mm512_mask_blend_epi8(before_lf,
		    _mm512_set1_epi8('.'), _mm512_set1_epi8('\r'));

		_mm512_storeu_si512(o, _mm512_mask_blend_epi8(own, ins, placed));
		o += 32 + __builtin_popcountll(m);
		prev_cr = (unsigned)(cr >> 31);
		prev_lf = (unsigned)(lf >> 31);
	}
	*op = o;
	return i;
}
#endif

typedef size_t blocks_fn(struct wireform *, char **, const char *, size_t);

static blocks_fn *blocks;	/* NULL: bytes only */
static bool chosen;

bool
wireform_choose(enum wireform_path p)
{
	switch (p) {
	case WIREFORM_BYTES:
		blocks = NULL;
		break;
#if WIREFORM_X86
	case WIREFORM_SHUFFLE:
		if (!__builtin_cpu_supports("ssse3") ||
		    !__builtin_cpu_supports("popcnt"))
			return false;
		make_shuffles();
		blocks = copy_shuffled;
		break;
	case WIREFORM_EXPAND:
		if (!__builtin_cpu_supports("avx512bw") ||
		    !__builtin_cpu_supports("avx512vl") ||
		    !__builtin_cpu_supports("avx512vbmi") ||
		    !__builtin_cpu_supports("avx512vbmi2") ||
		    !__builtin_cpu_supports("bmi2"))
			return false;
		blocks = copy_expanded;
		break;
#endif
	default:
		return false;
	}
	chosen = true;
	return true;
}

/* The fastest path this CPU has. */
static void
choose_best(void)
{
	if (!wireform_choose(WIREFORM_EXPAND) &&
	    !wireform_choose(WIREFORM_SHUFFLE))
		wireform_choose(WIREFORM_BYTES);
}

size_t
wireform_copy(struct wireform *w, char *out, const char *in, size_t n)
{
	char *o = out;
	size_t done = 0;

	if (!chosen)
		choose_best();
	if (blocks != NULL && n > 0) {
		done = blocks(w, &o, in, n);
		if (done > 0) {
			w->last = in[done - 1];
			w->line_start = w->last == '\n';
		}
	}
	return (size_t)(o - out) + copy_bytes(w, o, in + done, n - done);
}
