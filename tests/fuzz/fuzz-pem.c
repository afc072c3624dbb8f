/* libFuzzer: rotkit's PEM loading (certificates, keys, bundles) and what it
 * reads out of a certificate (names, CN, fingerprint, times, roles). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include <openssl/x509.h>

#include "kit-internal.h"
#include "log.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  rdind_error_t err = NULL;
  X509 *x = kit_parse_cert ((const char *) data, size, "fuzz", &err);
  rdind_error_release (&err);
  if (x)
    {
      free (kit_cert_cn (x));
      free (kit_cert_names (x));
      free (kit_cert_fingerprint (x));
      kit_cert_not_before (x);
      kit_cert_not_after (x);
      kit_cert_has_role (x, KIT_ROLE_SERVER);
      kit_cert_has_role (x, KIT_ROLE_CLIENT);
      char *none[] = { NULL };
      kit_cert_names_equal (x, none, none);
      X509_free (x);
    }
  EVP_PKEY *k = kit_parse_key ((const char *) data, size, "fuzz", &err);
  rdind_error_release (&err);
  if (k)
    {
      kit_key_describe (k);
      EVP_PKEY_free (k);
    }
  STACK_OF (X509) *b = kit_parse_bundle ((const char *) data, size, "fuzz", &err);
  rdind_error_release (&err);
  if (b)
    sk_X509_pop_free (b, X509_free);
  return 0;
}
