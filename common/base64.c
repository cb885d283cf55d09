#include "config.h"

#include <string.h>

#include "common/base64.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void
base64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*out++ = b64_alphabet[in[i] >> 2];
		*out++ = b64_alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*out++ = b64_alphabet[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*out++ = b64_alphabet[in[i + 2] & 63];
	}
	if (i < n) {
		*out++ = b64_alphabet[in[i] >> 2];
		if (i + 1 < n) {
			*out++ = b64_alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			*out++ = b64_alphabet[(in[i + 1] & 15) << 2];
		} else {
			*out++ = b64_alphabet[(in[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = '\0';
}

static int
b64_value(unsigned char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b64_alphabet, c)) == NULL)
		return -1;
	return (int)(p - b64_alphabet);
}

long
base64_decode(const char *in, size_t n, unsigned char *out)
{
	size_t i, o = 0;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];

			if (c == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad || (v[k] = b64_value(c)) < 0)
				return -1;
		}
		out[o++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[o++] = (unsigned char)(((v[1] & 15) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[o++] = (unsigned char)(((v[2] & 3) << 6) | v[3]);
	}
	return (long)o;
}
