#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "common/conf.h"
#include "sasl/psasl.h"

/* The server context is built in the master (keys are read as root) and
 * inherited by every worker, which also shares its session-ticket keys so
 * that a client resumes on any worker. */
SSL_CTX *tls_ctx_new(const struct config *cfg, char *err, size_t errlen);
void tls_ctx_free(SSL_CTX *ctx);

/* Server handshake on fd, bounded by timeout_ms. NULL on failure, with a
 * reason for the log in err. */
SSL *tls_accept(SSL_CTX *ctx, int fd, int timeout_ms, char *err,
    size_t errlen);
void tls_close(SSL *ssl);

/* Channel binding for SCRAM-PLUS: tls-exporter on TLS 1.3 (RFC 9266),
 * tls-unique on TLS 1.2 (RFC 5929). False if none can be had. */
bool tls_channel_binding(SSL *ssl, struct psasl_cbind *cb);
unsigned tls_ssf(SSL *ssl);
const char *tls_version(SSL *ssl);
const char *tls_cipher(SSL *ssl);

#endif
