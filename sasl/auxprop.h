#ifndef POSTERN_SASL_AUXPROP_H
#define POSTERN_SASL_AUXPROP_H

#include <stdbool.h>

/* The in-process auxprop plugin "postern": SCRAM verifiers (RFC 5803
 * authPassword values) straight from the directory. It never serves
 * userPassword or cmusaslsecretPLAIN, so that the checkpass callback stays
 * the only judge of cleartext passwords. */

#define AUXPROP_PLUGIN_NAME "postern"

/* After sasl_server_init(), in the master before fork: draws the secret
 * behind the fake verifiers (so every worker makes the same ones) and
 * registers the plugin. */
bool auxprop_init(void);
/* Wipes the secret. */
void auxprop_done(void);

#endif
