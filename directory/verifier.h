#ifndef POSTERN_VERIFIER_H
#define POSTERN_VERIFIER_H

#include <stdbool.h>
#include <stddef.h>

struct user_record;

/* Password verifiers: nothing here ever stores or logs a cleartext password.
 * SCRAM verifiers are in RFC 5803 form:
 *   SCRAM-SHA-256$<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey> */

#define SCRAM_DEFAULT_ITERATIONS 4096
/* A verifier asking for more is refused: one check would tie up a worker
 * for seconds (PBKDF2-SHA-256 does roughly 1M rounds a second). */
#define SCRAM_MAX_ITERATIONS 1000000

/* mech: "SCRAM-SHA-256" or "SCRAM-SHA-1"; iterations 0 means the default.
 * Returns a malloc'd verifier with a fresh 16-byte salt, or NULL for an
 * unknown mechanism or when no random bytes could be had. */
char *scram_verifier_make(const char *mech, const char *password,
    unsigned iterations);
/* The same with a given salt (1..64 bytes): for test vectors and for
 * importing users whose salt is already known. */
char *scram_verifier_from_salt(const char *mech, const char *password,
    unsigned iterations, const unsigned char *salt, size_t saltlen);
/* Is this a well-formed RFC 5803 verifier of a mechanism we know? */
bool scram_verifier_valid(const char *verifier);
/* Does password produce this verifier's StoredKey? Constant-time compare. */
bool scram_verifier_check(const char *verifier, const char *password);
/* A deterministic verifier for a user that does not exist, so that SCRAM
 * fails at the proof for unknown users exactly as for a wrong password. */
char *scram_fake_verifier(const char *mech, const char *name,
    const unsigned char *secret, size_t secretlen);

/* crypt(3) hash with the strongest method libxcrypt offers ("$y$"),
 * falling back to SHA-512 ("$6$"). */
char *crypt_hash_make(const char *password);
bool crypt_hash_check(const char *hash, const char *password);

/* Checks a cleartext password (USER/PASS, PLAIN) against whatever the
 * record holds: crypt hash first, then the SCRAM verifiers. */
bool user_password_check(const struct user_record *u, const char *password);

#endif
