#ifndef POSTERN_FUZZ_H
#define POSTERN_FUZZ_H

/* What every libFuzzer target of tests/fuzz shares. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Where a target keeps its scratch files: $FUZZ_TMPDIR, else /dev/shm
 * (no disk writes at fuzzing speed), else /tmp. */
static inline const char *
fuzz_tmpdir(void)
{
	const char *base = getenv("FUZZ_TMPDIR");

	if (base != NULL)
		return base;
	return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

#endif
