#include "config.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "common/clock.h"
#include "daemon/tls.h"

static void
tls_error_text(const char *what, char *err, size_t errlen)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "unknown error";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, buf);
	ERR_clear_error();
}

static int
tls_min_version(const char *name)
{
	if (name && strcmp(name, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	return TLS1_2_VERSION;
}

static bool
tls_ctx_load_keys(SSL_CTX *ctx, const struct config *cfg, char *err,
    size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		tls_error_text(cfg->tls_cert, err, errlen);
		return false;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
		tls_error_text(cfg->tls_key, err, errlen);
		return false;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error_text("key does not match certificate", err, errlen);
		return false;
	}
	return true;
}

static bool
tls_ctx_set_ciphers(SSL_CTX *ctx, const struct config *cfg, char *err,
    size_t errlen)
{
	if (cfg->tls_ciphers && SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) {
		tls_error_text("tls_ciphers", err, errlen);
		return false;
	}
	if (cfg->tls_ciphersuites &&
	    SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1) {
		tls_error_text("tls_ciphersuites", err, errlen);
		return false;
	}
	return true;
}

SSL_CTX *
tls_ctx_new(const struct config *cfg, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "postern";
	SSL_CTX *ctx;

	if (cfg->tls_cert == NULL || cfg->tls_key == NULL) {
		snprintf(err, errlen, "tls_cert and tls_key are not set");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error_text("SSL_CTX_new", err, errlen);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, tls_min_version(cfg->tls_min_version));
	/* No renegotiation: it would make tls-unique/tls-exporter ambiguous
	 * (RFC 9266 §4.2) and has a history of attacks. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle sessions then hold no 34 KiB of TLS buffers each. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!tls_ctx_load_keys(ctx, cfg, err, errlen) ||
	    !tls_ctx_set_ciphers(ctx, cfg, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

/* Non-blocking, so that timeout_ms bounds the whole handshake: with the
 * socket timeouts alone, a client trickling a byte now and then could
 * keep a worker in it for minutes. */
static bool
tls_handshake(SSL *ssl, int fd, int timeout_ms)
{
	long long deadline = clock_ms() + timeout_ms;
	int fl = fcntl(fd, F_GETFL);
	bool ok = false;

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return false;
	for (;;) {
		int r = SSL_accept(ssl), e, left;
		struct pollfd pfd = { .fd = fd };

		if (r == 1) {
			ok = true;
			break;
		}
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			pfd.events = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			pfd.events = POLLOUT;
		else
			break;
		if ((left = clock_ms_left(deadline)) == 0 ||
		    poll(&pfd, 1, left) <= 0)
			break;
	}
	fcntl(fd, F_SETFL, fl);
	return ok;
}

SSL *
tls_accept(SSL_CTX *ctx, int fd, int timeout_ms, char *err, size_t errlen)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
		tls_error_text("SSL_new", err, errlen);
		SSL_free(ssl);
		return NULL;
	}
	if (!tls_handshake(ssl, fd, timeout_ms)) {
		tls_error_text("TLS handshake failed", err, errlen);
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

void
tls_close(SSL *ssl)
{
	if (ssl == NULL)
		return;
	SSL_shutdown(ssl);
	SSL_free(ssl);
}

bool
tls_channel_binding(SSL *ssl, struct psasl_cbind *cb)
{
	static const char label[] = "EXPORTER-Channel-Binding";

	memset(cb, 0, sizeof(*cb));
	if (SSL_version(ssl) >= TLS1_3_VERSION) {
		if (SSL_export_keying_material(ssl, cb->data, 32, label,
		    sizeof(label) - 1, NULL, 0, 0) != 1)
			return false;
		cb->name = "tls-exporter";
		cb->len = 32;
		return true;
	}
	/* tls-unique: the first Finished of the latest handshake, the
	 * client's on a full handshake and ours on resumption. */
	cb->len = SSL_session_reused(ssl) ?
	    SSL_get_finished(ssl, cb->data, sizeof(cb->data)) :
	    SSL_get_peer_finished(ssl, cb->data, sizeof(cb->data));
	if (cb->len == 0 || cb->len > sizeof(cb->data))
		return false;
	cb->name = "tls-unique";
	return true;
}

unsigned
tls_ssf(SSL *ssl)
{
	int bits = SSL_get_cipher_bits(ssl, NULL);

	return bits > 0 ? (unsigned)bits : 0;
}

const char *
tls_version(SSL *ssl)
{
	return SSL_get_version(ssl);
}

const char *
tls_cipher(SSL *ssl)
{
	return SSL_get_cipher_name(ssl);
}
