#include "config.h"

/* Auxprop plugin "postern": hands libsasl2's SCRAM plugin the verifiers
 * of the user being authenticated, as `*authPassword` values
 * "SCRAM-SHA-256$iter:salt$StoredKey:ServerKey" (RFC 5803).
 *
 * A user that does not exist, or has no verifier for a mechanism, gets a
 * fake verifier derived from the name and a per-process secret (RFC 5802
 * §9): the server-first message then looks the same for every name, and
 * the exchange fails only at the proof, exactly as for a wrong password. */

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "directory/verifier.h"
#include "sasl/auxprop.h"
#include "sasl/checkpass.h"

#define AUXPROP_SECRET_LEN 32

static unsigned char auxprop_secret[AUXPROP_SECRET_LEN];
static const char *const auxprop_mechs[] = { "SCRAM-SHA-256", "SCRAM-SHA-1" };

/* Is v a verifier for mech ("MECH$...")? Anything else is not served: a
 * mangled value would make SCRAM fail before the proof. */
static bool
auxprop_verifier_ok(const char *v, const char *mech)
{
	size_t n = strlen(mech);

	return v != NULL && strncmp(v, mech, n) == 0 && v[n] == '$' &&
	    v[n + 1] != '\0';
}

static int
auxprop_put(sasl_server_params_t *sp, const char *prop, const char *mech,
    const char *verifier, const char *user)
{
	char *fake;
	int r;

	if (auxprop_verifier_ok(verifier, mech))
		return sp->utils->prop_set(sp->propctx, prop, verifier, 0);
	fake = scram_fake_verifier(mech, user, auxprop_secret,
	    sizeof(auxprop_secret));
	if (fake == NULL)
		return SASL_FAIL;
	r = sp->utils->prop_set(sp->propctx, prop, fake, 0);
	free(fake);
	return r;
}

/* Fills prop ("*authPassword") with one value per SCRAM mechanism. */
static int
auxprop_serve(sasl_server_params_t *sp, const char *prop, const char *user)
{
	struct user_record *u;
	const char *v;
	size_t i;
	int r = SASL_OK;

	switch (checkpass_lookup(checkpass_state(sp->utils), user, &u)) {
	case DIR_OK:
	case DIR_NOTFOUND:
		break;
	case DIR_TEMPFAIL:
		sp->utils->seterror(sp->utils->conn, 0,
		    "user directory unavailable");
		return SASL_UNAVAIL;
	}
	/* Disabled users get their real verifiers: the session checks
	 * "enabled" once the proof is right, so a guesser learns nothing. */
	for (i = 0; r == SASL_OK && i < sizeof(auxprop_mechs) /
	    sizeof(auxprop_mechs[0]); i++) {
		v = NULL;
		if (u != NULL)
			v = i == 0 ? u->scram_sha256 : u->scram_sha1;
		r = auxprop_put(sp, prop, auxprop_mechs[i], v, user);
	}
	user_record_free(u);
	return r;
}

/* The requested authid property we serve, if it still wants a value. */
static const struct propval *
auxprop_wanted(sasl_server_params_t *sp, unsigned flags)
{
	const struct propval *pv;

	pv = sp->utils->prop_get(sp->propctx);
	for (; pv != NULL && pv->name != NULL; pv++) {
		if (strcasecmp(pv->name, "*authPassword") != 0)
			continue;
		if (pv->values != NULL && !(flags & SASL_AUXPROP_OVERRIDE))
			return NULL;
		return pv;
	}
	return NULL;
}

static int
auxprop_lookup(void *glob_context, sasl_server_params_t *sp, unsigned flags,
    const char *user, unsigned ulen)
{
	const struct propval *pv;
	char *name;
	int r;

	(void)glob_context;
	if (sp == NULL || sp->utils == NULL || user == NULL)
		return SASL_BADPARAM;
	/* Authorization identities have no properties here: we serve only
	 * `*` (authentication identity) properties. */
	if (flags & SASL_AUXPROP_AUTHZID)
		return SASL_OK;
	/* Nothing we serve was asked for (PLAIN, GSSAPI, the pwcheck
	 * fallback asking for userPassword): don't touch the directory. */
	if ((pv = auxprop_wanted(sp, flags)) == NULL)
		return SASL_OK;
	if (pv->values != NULL)
		sp->utils->prop_erase(sp->propctx, pv->name);
	name = ulen > 0 ? xstrndup(user, ulen) : xstrdup(user);
	r = auxprop_serve(sp, pv->name, name);
	free(name);
	return r;
}

static sasl_auxprop_plug_t auxprop_plugin = {
	0,                      /* features */
	0,                      /* spare */
	NULL,                   /* glob_context */
	NULL,                   /* auxprop_free */
	auxprop_lookup,
	AUXPROP_PLUGIN_NAME,
	NULL,                   /* auxprop_store: verifiers are set elsewhere */
};

static int
auxprop_plug_init(const sasl_utils_t *utils, int max_version,
    int *out_version, sasl_auxprop_plug_t **plug, const char *plugname)
{
	(void)utils;
	(void)plugname;
	if (out_version == NULL || plug == NULL)
		return SASL_BADPARAM;
	if (max_version < SASL_AUXPROP_PLUG_VERSION)
		return SASL_BADVERS;
	*out_version = SASL_AUXPROP_PLUG_VERSION;
	*plug = &auxprop_plugin;
	return SASL_OK;
}

bool
auxprop_init(void)
{
	int r;

	if (getrandom(auxprop_secret, sizeof(auxprop_secret), 0) !=
	    (ssize_t)sizeof(auxprop_secret)) {
		log_err("sasl: getrandom failed");
		return false;
	}
	r = sasl_auxprop_add_plugin(AUXPROP_PLUGIN_NAME, auxprop_plug_init);
	if (r != SASL_OK) {
		log_err("sasl: cannot register the auxprop plugin: %s",
		    sasl_errstring(r, NULL, NULL));
		return false;
	}
	return true;
}

void
auxprop_done(void)
{
	explicit_bzero(auxprop_secret, sizeof(auxprop_secret));
}
