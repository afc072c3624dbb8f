/* rdind - X.509 issuance and inspection for rotkit.
 *
 * The profile is deliberately small and fixed: what Go's crypto/tls (the
 * docker client) and OpenSSL (the sidecar) need to verify a chain of one CA
 * and one leaf, and nothing a client could misuse (pathlen:0 keeps a leaf
 * key from ever signing a certificate that chains to our CA). */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "kit-internal.h"
#include "util.h"

/* Appends OpenSSL's first queued reason to an error message, then clears the
 * queue so a later failure does not report a stale reason. */
static int
ossl_error (rdind_error_t *err, const char *fmt, const char *arg)
{
  unsigned long e = ERR_get_error ();
  char buf[256] = "";
  if (e)
    ERR_error_string_n (e, buf, sizeof (buf));
  ERR_clear_error ();
  return rdind_make_error (err, 0, "%s%s%s%s", fmt, arg ? arg : "", *buf ? ": " : "", buf);
}

EVP_PKEY *
kit_key_new (enum conf_key_type t, rdind_error_t *err)
{
  EVP_PKEY *k = NULL;
  switch (t)
    {
    case CONF_KEY_ECDSA_P256:
      k = EVP_EC_gen ("P-256");
      break;
    case CONF_KEY_RSA2048:
      k = EVP_RSA_gen (2048);
      break;
    case CONF_KEY_RSA3072:
      k = EVP_RSA_gen (3072);
      break;
    case CONF_KEY_RSA4096:
      k = EVP_RSA_gen (4096);
      break;
    }
  if (k == NULL)
    ossl_error (err, "generate a key of type ", conf_key_type_name (t));
  return k;
}

const char *
kit_key_describe (EVP_PKEY *k)
{
  char group[64];
  size_t gl = 0;
  if (k == NULL)
    return "none";
  if (EVP_PKEY_get_base_id (k) == EVP_PKEY_EC)
    {
      if (EVP_PKEY_get_group_name (k, group, sizeof (group), &gl) == 1
          && (strcmp (group, "prime256v1") == 0 || strcmp (group, "P-256") == 0))
        return "ecdsa-p256";
      return "ecdsa-other";
    }
  if (EVP_PKEY_get_base_id (k) == EVP_PKEY_RSA)
    switch (EVP_PKEY_get_bits (k))
      {
      case 2048:
        return "rsa2048";
      case 3072:
        return "rsa3072";
      case 4096:
        return "rsa4096";
      default:
        return "rsa-other";
      }
  return "other";
}

bool
kit_key_is_type (EVP_PKEY *k, enum conf_key_type t)
{
  return strcmp (kit_key_describe (k), conf_key_type_name (t)) == 0;
}

/* A positive random 128-bit serial: unpredictable serials are what the CA/B
 * rules ask for since the MD5 collision attacks on sequential serials. */
static int
set_random_serial (X509 *x, rdind_error_t *err)
{
  unsigned char b[16];
  BIGNUM *bn;
  int ok;
  if (RAND_bytes (b, sizeof (b)) != 1)
    return ossl_error (err, "random serial number", NULL);
  b[0] &= 0x7f; /* positive */
  b[0] |= 0x40; /* and always 16 bytes long */
  bn = BN_bin2bn (b, sizeof (b), NULL);
  ok = bn && BN_to_ASN1_INTEGER (bn, X509_get_serialNumber (x)) != NULL;
  BN_free (bn);
  if (!ok)
    return ossl_error (err, "set serial number", NULL);
  return 0;
}

static int
add_ext (X509 *x, X509V3_CTX *ctx, int nid, const char *value, rdind_error_t *err)
{
  X509_EXTENSION *e = X509V3_EXT_conf_nid (NULL, ctx, nid, value);
  int ok = e && X509_add_ext (x, e, -1);
  X509_EXTENSION_free (e);
  if (!ok)
    return ossl_error (err, "add certificate extension ", OBJ_nid2sn (nid));
  return 0;
}

/* Builds the SAN from typed GENERAL_NAMEs rather than a "DNS:a,IP:b" config
 * string, so a name can never smuggle in another entry. */
static int
add_sans (X509 *x, char **dns, char **ips, rdind_error_t *err)
{
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null ();
  int ok = 1;
  for (char **d = dns; ok && d && *d; d++)
    {
      GENERAL_NAME *gn = GENERAL_NAME_new ();
      ASN1_IA5STRING *s = ASN1_IA5STRING_new ();
      ok = gn && s && ASN1_STRING_set (s, *d, (int)strlen (*d));
      if (ok)
        {
          GENERAL_NAME_set0_value (gn, GEN_DNS, s);
          s = NULL;
          ok = sk_GENERAL_NAME_push (gens, gn) > 0;
          if (ok)
            gn = NULL;
        }
      ASN1_IA5STRING_free (s);
      GENERAL_NAME_free (gn);
    }
  for (char **i = ips; ok && i && *i; i++)
    {
      GENERAL_NAME *gn = GENERAL_NAME_new ();
      ASN1_OCTET_STRING *ip = a2i_IPADDRESS (*i);
      ok = gn && ip;
      if (ok)
        {
          GENERAL_NAME_set0_value (gn, GEN_IPADD, ip);
          ip = NULL;
          ok = sk_GENERAL_NAME_push (gens, gn) > 0;
          if (ok)
            gn = NULL;
        }
      ASN1_OCTET_STRING_free (ip);
      GENERAL_NAME_free (gn);
    }
  if (ok && sk_GENERAL_NAME_num (gens) > 0)
    ok = X509_add1_ext_i2d (x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free (gens);
  if (!ok)
    return ossl_error (err, "add subjectAltName", NULL);
  return 0;
}

X509 *
kit_cert_issue (const struct kit_profile *p, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key,
                rdind_error_t *err)
{
  cleanup_x509 X509 *x = X509_new ();
  X509_NAME *name;
  X509V3_CTX ctx;
  time_t nb = p->now - KIT_BACKDATE;
  time_t na = p->now + (time_t)p->lifetime;
  bool rsa = EVP_PKEY_get_base_id (key) == EVP_PKEY_RSA;

  if (p->max_not_after && na > p->max_not_after)
    na = p->max_not_after;
  if (na <= p->now)
    {
      rdind_make_error (
          err, 0, "certificate for '%s' would already be expired (its CA expires too soon)", p->cn);
      return NULL;
    }
  if (x == NULL || !X509_set_version (x, 2) || set_random_serial (x, err) < 0)
    {
      if (err && *err == NULL)
        ossl_error (err, "new certificate", NULL);
      return NULL;
    }
  name = X509_get_subject_name (x);
  if (!X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_UTF8, (const unsigned char *)p->cn, -1, -1,
                                   0)
      || !X509_set_issuer_name (x, ca ? X509_get_subject_name (ca) : name)
      || !ASN1_TIME_set (X509_getm_notBefore (x), nb) || !ASN1_TIME_set (X509_getm_notAfter (x), na)
      || !X509_set_pubkey (x, key))
    {
      ossl_error (err, "fill certificate for ", p->cn);
      return NULL;
    }

  X509V3_set_ctx (&ctx, ca ? ca : x, x, NULL, NULL, 0);
  if (p->role == KIT_ROLE_CA)
    {
      if (add_ext (x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err) < 0
          || add_ext (x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err) < 0
          || add_ext (x, &ctx, NID_subject_key_identifier, "hash", err) < 0)
        return NULL;
    }
  else
    {
      /* keyEncipherment only for RSA: an ECDSA key cannot encipher, and
       * strict verifiers reject a keyUsage that does not fit the key. */
      if (add_ext (x, &ctx, NID_basic_constraints, "critical,CA:FALSE", err) < 0
          || add_ext (x, &ctx, NID_key_usage,
                      rsa ? "critical,digitalSignature,keyEncipherment"
                          : "critical,digitalSignature",
                      err)
                 < 0
          || add_ext (x, &ctx, NID_ext_key_usage,
                      p->role == KIT_ROLE_SERVER ? "serverAuth" : "clientAuth", err)
                 < 0
          || add_ext (x, &ctx, NID_subject_key_identifier, "hash", err) < 0
          || add_ext (x, &ctx, NID_authority_key_identifier, "keyid:always", err) < 0
          || add_sans (x, p->dns, p->ips, err) < 0)
        return NULL;
    }
  if (X509_sign (x, ca_key ? ca_key : key, EVP_sha256 ()) <= 0)
    {
      ossl_error (err, "sign certificate for ", p->cn);
      return NULL;
    }
  return steal_pointer (&x);
}

static char *
bio_string (BIO *b, size_t *len)
{
  char *data = NULL;
  long n = BIO_get_mem_data (b, &data);
  char *s = xmalloc ((size_t)n + 1);
  memcpy (s, data, (size_t)n);
  s[n] = '\0';
  if (len)
    *len = (size_t)n;
  return s;
}

char *
kit_pem_cert (X509 *x, size_t *len)
{
  cleanup_bio BIO *b = BIO_new (BIO_s_mem ());
  if (b == NULL || !PEM_write_bio_X509 (b, x))
    abort (); /* only fails on allocation */
  return bio_string (b, len);
}

char *
kit_pem_key (EVP_PKEY *k, size_t *len)
{
  cleanup_bio BIO *b = BIO_new (BIO_s_mem ());
  if (b == NULL || !PEM_write_bio_PrivateKey (b, k, NULL, NULL, 0, NULL, NULL))
    abort ();
  return bio_string (b, len);
}

X509 *
kit_parse_cert (const char *pem, size_t len, const char *what, rdind_error_t *err)
{
  cleanup_bio BIO *b = BIO_new_mem_buf (pem, (int)len);
  X509 *x = b ? PEM_read_bio_X509 (b, NULL, NULL, NULL) : NULL;
  ERR_clear_error ();
  if (x == NULL)
    rdind_make_error (err, 0, "%s: not a PEM certificate (corrupt or truncated)", what);
  return x;
}

EVP_PKEY *
kit_parse_key (const char *pem, size_t len, const char *what, rdind_error_t *err)
{
  cleanup_bio BIO *b = BIO_new_mem_buf (pem, (int)len);
  /* No passphrase callback: an encrypted key must fail here, not prompt. */
  EVP_PKEY *k = b ? PEM_read_bio_PrivateKey (b, NULL, NULL, (void *)"") : NULL;
  ERR_clear_error ();
  if (k == NULL)
    rdind_make_error (err, 0, "%s: not an unencrypted PEM private key (corrupt or truncated)",
                      what);
  return k;
}

STACK_OF (X509)
    * kit_parse_bundle (const char *pem, size_t len, const char *what, rdind_error_t *err)
{
  cleanup_bio BIO *b = BIO_new_mem_buf (pem, (int)len);
  STACK_OF (X509) *sk = sk_X509_new_null ();
  X509 *x;
  while (b && (x = PEM_read_bio_X509 (b, NULL, NULL, NULL)) != NULL)
    sk_X509_push (sk, x);
  ERR_clear_error ();
  if (sk_X509_num (sk) == 0)
    {
      sk_X509_free (sk);
      rdind_make_error (err, 0, "%s: no PEM certificate in it (corrupt or truncated)", what);
      return NULL;
    }
  return sk;
}

static time_t
asn1_to_time (const ASN1_TIME *a)
{
  struct tm tm;
  if (a == NULL || !ASN1_TIME_to_tm (a, &tm))
    return 0;
  return timegm (&tm);
}

time_t
kit_cert_not_before (X509 *x)
{
  return asn1_to_time (X509_get0_notBefore (x));
}

time_t
kit_cert_not_after (X509 *x)
{
  return asn1_to_time (X509_get0_notAfter (x));
}

time_t
kit_cert_issued (X509 *x)
{
  return kit_cert_not_before (x) + KIT_BACKDATE;
}

time_t
kit_cert_due (X509 *x)
{
  time_t from = kit_cert_issued (x), to = kit_cert_not_after (x);
  if (to <= from)
    return from;
  return from + (to - from) * 2 / 3;
}

bool
kit_cert_matches_key (X509 *x, EVP_PKEY *k)
{
  bool r = X509_check_private_key (x, k) == 1;
  ERR_clear_error ();
  return r;
}

bool
kit_cert_signed_by (X509 *x, X509 *ca)
{
  EVP_PKEY *pub = X509_get0_pubkey (ca);
  bool r = pub && X509_check_issued (ca, x) == X509_V_OK && X509_verify (x, pub) == 1;
  ERR_clear_error ();
  return r;
}

bool
kit_cert_same (X509 *a, X509 *b)
{
  return a && b && X509_cmp (a, b) == 0;
}

bool
kit_cert_has_role (X509 *x, enum kit_role r)
{
  uint32_t ku = X509_get_key_usage (x);
  uint32_t xku = X509_get_extended_key_usage (x);
  uint32_t flags = X509_get_extension_flags (x);
  switch (r)
    {
    case KIT_ROLE_CA:
      return (flags & EXFLAG_CA) && (ku & KU_KEY_CERT_SIGN);
    case KIT_ROLE_SERVER:
      return !(flags & EXFLAG_CA) && (flags & EXFLAG_XKUSAGE) && xku == XKU_SSL_SERVER
             && (ku & KU_DIGITAL_SIGNATURE);
    case KIT_ROLE_CLIENT:
      return !(flags & EXFLAG_CA) && (flags & EXFLAG_XKUSAGE) && xku == XKU_SSL_CLIENT
             && (ku & KU_DIGITAL_SIGNATURE);
    }
  return false;
}

/* Canonical text of an IP literal ("::1", "127.0.0.1"); NULL if not one. */
static char *
ip_canon (const char *s)
{
  unsigned char b[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton (AF_INET, s, b) == 1)
    return xstrdup (inet_ntop (AF_INET, b, out, sizeof (out)));
  if (inet_pton (AF_INET6, s, b) == 1)
    return xstrdup (inet_ntop (AF_INET6, b, out, sizeof (out)));
  return NULL;
}

/* Text of one SAN entry as "DNS:name" / "IP:addr"; NULL for other types. */
static char *
gen_name_str (const GENERAL_NAME *gn)
{
  char *s = NULL;
  char ip[INET6_ADDRSTRLEN] = "?";
  if (gn->type == GEN_DNS)
    {
      const ASN1_IA5STRING *d = gn->d.dNSName;
      xasprintf (&s, "DNS:%.*s", ASN1_STRING_length (d), (const char *)ASN1_STRING_get0_data (d));
    }
  else if (gn->type == GEN_IPADD)
    {
      const ASN1_OCTET_STRING *o = gn->d.iPAddress;
      int n = ASN1_STRING_length (o);
      if (n == 4 || n == 16)
        inet_ntop (n == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data (o), ip, sizeof (ip));
      xasprintf (&s, "IP:%s", ip);
    }
  else
    xasprintf (&s, "other:%d", gn->type);
  return s;
}

static char **
cert_name_list (X509 *x)
{
  GENERAL_NAMES *gens = X509_get_ext_d2i (x, NID_subject_alt_name, NULL, NULL);
  char **v = xmalloc0 (sizeof (char *));
  for (int i = 0; gens && i < sk_GENERAL_NAME_num (gens); i++)
    {
      cleanup_free char *s = gen_name_str (sk_GENERAL_NAME_value (gens, i));
      strv_append (&v, s);
    }
  GENERAL_NAMES_free (gens);
  ERR_clear_error ();
  return v;
}

bool
kit_cert_names_equal (X509 *x, char **dns, char **ips)
{
  cleanup_strv char **have = cert_name_list (x);
  cleanup_strv char **want = xmalloc0 (sizeof (char *));
  for (char **d = dns; d && *d; d++)
    {
      cleanup_free char *s = NULL;
      xasprintf (&s, "DNS:%s", *d);
      if (!strv_contains (want, s))
        strv_append (&want, s);
    }
  for (char **i = ips; i && *i; i++)
    {
      cleanup_free char *c = ip_canon (*i);
      cleanup_free char *s = NULL;
      xasprintf (&s, "IP:%s", c ? c : *i);
      if (!strv_contains (want, s))
        strv_append (&want, s);
    }
  if (strv_len (have) != strv_len (want))
    return false;
  for (char **w = want; *w; w++)
    if (!strv_contains (have, *w))
      return false;
  return true;
}

char *
kit_cert_names (X509 *x)
{
  cleanup_strv char **v = cert_name_list (x);
  return strv_join (v, ",");
}

char *
kit_cert_cn (X509 *x)
{
  X509_NAME *n = X509_get_subject_name (x);
  int i = X509_NAME_get_index_by_NID (n, NID_commonName, -1);
  ASN1_STRING *d;
  char *s;
  if (i < 0)
    return xstrdup ("");
  d = X509_NAME_ENTRY_get_data (X509_NAME_get_entry (n, i));
  s = xstrndup ((const char *)ASN1_STRING_get0_data (d), (size_t)ASN1_STRING_length (d));
  return s;
}

char *
kit_cert_fingerprint (X509 *x)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  char *s, *p;
  if (!X509_digest (x, EVP_sha256 (), md, &n))
    return xstrdup ("?");
  p = s = xmalloc (n * 3 + 1);
  for (unsigned int i = 0; i < n; i++)
    p += sprintf (p, i ? ":%02X" : "%02X", md[i]);
  return s;
}

char *
kit_time_str (time_t t)
{
  struct tm tm;
  char buf[64];
  char *s;
  gmtime_r (&t, &tm);
  strftime (buf, sizeof (buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  s = xstrdup (buf);
  return s;
}
