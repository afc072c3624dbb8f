/* rotkit - the certificate kit on the command line.
 *
 *   rotkit init|issue|renew|show|verify [--certdir DIR] [--peer NAME]...
 *          [--server-name NAME]... [--out DIR] [--now TIME] [--lifetime D]
 *          [--ca-lifetime D] [--key-type T] [--client-group G] [--config FILE]
 *
 * Defaults come from the same configuration as rdind (rdind.ini, RDIND_*,
 * DOCKER_TLS_CERTDIR), so `rotkit init` with no flags prepares exactly the
 * material the sidecar would. */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "kit.h"
#include "log.h"
#include "util.h"

static void
usage (FILE *f)
{
  fprintf (
      f, "Usage: rotkit init|issue|renew|show|verify [--certdir DIR] [--peer NAME]... [OPTIONS]\n");
}

static void
help (void)
{
  usage (stdout);
  printf (
      "\nShort-lived mutual-TLS material in the DOCKER_TLS_CERTDIR layout:\n"
      "ca/{cert,key}.pem, server/{ca,cert,key}.pem, client/{ca,cert,key}.pem for the\n"
      "first peer and clients/PEER/{ca,cert,key}.pem for the others.\n\n"
      "Commands:\n"
      "  init     create what is missing or invalid, renew what is due, reuse the rest\n"
      "  issue    issue (or reuse) one client certificate: --peer NAME [--out DIR]\n"
      "  renew    like init, for the peers already in the certdir (or --peer)\n"
      "  show     list every certificate: subject, names, fingerprint, validity\n"
      "  verify   check chain, names, key match and permissions; exit 1 on any problem\n\n"
      "Options:\n"
      "  --certdir DIR        layout root (default: [tls] certdir / $DOCKER_TLS_CERTDIR)\n"
      "  --peer NAME          client name, repeatable; the first goes to client/\n"
      "  --server-name NAME   extra server DNS name or IP address, repeatable\n"
      "  --out DIR            issue: write the client material to DIR\n"
      "  --now TIME           pretend the time is TIME: unix seconds, 2026-12-01T00:00:00Z or +3d\n"
      "  --lifetime DUR       leaf certificate lifetime (default [tls] lifetime, 24h)\n"
      "  --ca-lifetime DUR    CA lifetime (default [tls] ca_lifetime, 30d)\n"
      "  --key-type TYPE      ecdsa-p256 (default), rsa2048, rsa3072 or rsa4096\n"
      "  --client-group NAME  make client keys 0640 for this group\n"
      "  --config FILE        rdind INI file to take defaults from\n"
      "  -q, --quiet          log warnings and errors only\n"
      "  -h, --help           this help\n"
      "  --version            print rotkit's version\n");
}

static int __attribute__ ((format (printf, 1, 2))) usage_error (const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "rotkit: ");
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  usage (stderr);
  return 2;
}

enum
{
  OPT_CERTDIR = 256,
  OPT_PEER,
  OPT_SERVER_NAME,
  OPT_OUT,
  OPT_NOW,
  OPT_LIFETIME,
  OPT_CA_LIFETIME,
  OPT_KEY_TYPE,
  OPT_CLIENT_GROUP,
  OPT_CONFIG,
  OPT_VERSION,
};

static const struct option longopts[] = {
  { "certdir", required_argument, NULL, OPT_CERTDIR },
  { "peer", required_argument, NULL, OPT_PEER },
  { "server-name", required_argument, NULL, OPT_SERVER_NAME },
  { "out", required_argument, NULL, OPT_OUT },
  { "now", required_argument, NULL, OPT_NOW },
  { "lifetime", required_argument, NULL, OPT_LIFETIME },
  { "ca-lifetime", required_argument, NULL, OPT_CA_LIFETIME },
  { "key-type", required_argument, NULL, OPT_KEY_TYPE },
  { "client-group", required_argument, NULL, OPT_CLIENT_GROUP },
  { "config", required_argument, NULL, OPT_CONFIG },
  { "quiet", no_argument, NULL, 'q' },
  { "help", no_argument, NULL, 'h' },
  { "version", no_argument, NULL, OPT_VERSION },
  { NULL, 0, NULL, 0 },
};

static void
conf_freep (struct rdind_conf **c)
{
  conf_free (*c);
}

int
main (int argc, char **argv)
{
  __attribute__ ((cleanup (conf_freep))) struct rdind_conf *conf = NULL;
  cleanup_strv char **peers = NULL, **names = NULL;
  cleanup_free char *certdir = NULL;
  const char *verb = NULL, *out = NULL, *config = NULL, *certdir_flag = NULL, *group = NULL;
  const char *lifetime = NULL, *ca_lifetime = NULL, *key_type = NULL;
  struct kit_opts o;
  rdind_error_t err = NULL;
  time_t now = 0;
  int c;

  /* The verb may come before or after the options. */
  while ((c = getopt_long (argc, argv, "+qh", longopts, NULL)) != -1 || optind < argc)
    {
      if (c == -1)
        {
          if (verb)
            return usage_error ("unexpected argument '%s'", argv[optind]);
          verb = argv[optind++];
          continue;
        }
      switch (c)
        {
        case OPT_CERTDIR:
          certdir_flag = optarg;
          break;
        case OPT_PEER:
          strv_append (&peers, optarg);
          break;
        case OPT_SERVER_NAME:
          strv_append (&names, optarg);
          break;
        case OPT_OUT:
          out = optarg;
          break;
        case OPT_NOW:
          if (kit_parse_time (optarg, &now, &err) < 0)
            {
              rdind_error_report (&err, 2);
              usage (stderr);
              return 2;
            }
          break;
        case OPT_LIFETIME:
          lifetime = optarg;
          break;
        case OPT_CA_LIFETIME:
          ca_lifetime = optarg;
          break;
        case OPT_KEY_TYPE:
          key_type = optarg;
          break;
        case OPT_CLIENT_GROUP:
          group = optarg;
          break;
        case OPT_CONFIG:
          config = optarg;
          break;
        case 'q':
          log_set_level (LOG_WARN_);
          break;
        case 'h':
          help ();
          return 0;
        case OPT_VERSION:
          printf ("rotkit %s\n", PACKAGE_VERSION);
          return 0;
        default:
          usage (stderr);
          return 2;
        }
    }
  if (verb == NULL)
    return usage_error ("%s", "no command given");
  if (strcmp (verb, "init") && strcmp (verb, "issue") && strcmp (verb, "renew")
      && strcmp (verb, "show") && strcmp (verb, "verify"))
    return usage_error ("unknown command '%s'", verb);
  if (out && strcmp (verb, "issue") != 0)
    return usage_error ("--out is only for 'issue' (not '%s')", verb);
  if (strcmp (verb, "issue") == 0 && strv_len (peers) != 1)
    return usage_error ("%s", "issue needs exactly one --peer NAME");

  if (conf_load (config, &conf, &err) < 0)
    return rdind_error_report (&err, 2);
  conf_resolve_paths (conf);
  kit_opts_from_conf (conf, &o);
  o.now = now;
  if (certdir_flag)
    {
      if (*certdir_flag != '/')
        {
          cleanup_free char *cwd = getcwd (NULL, 0);
          xasprintf (&certdir, "%s/%s", cwd ? cwd : "", certdir_flag);
        }
      else
        certdir = xstrdup (certdir_flag);
      o.certdir = certdir;
    }
  if (lifetime && conf_parse_duration (lifetime, &o.lifetime, &err) < 0)
    return rdind_error_wrap (&err, "--lifetime"), rdind_error_report (&err, 2);
  if (ca_lifetime && conf_parse_duration (ca_lifetime, &o.ca_lifetime, &err) < 0)
    return rdind_error_wrap (&err, "--ca-lifetime"), rdind_error_report (&err, 2);
  if (key_type && conf_parse_key_type (key_type, &o.key_type, &err) < 0)
    return rdind_error_wrap (&err, "--key-type"), rdind_error_report (&err, 2);
  if (group)
    o.client_group = group;
  if (names)
    o.server_names = names;
  if (o.lifetime < 300)
    return usage_error ("%s", "--lifetime must be at least 5m");
  if (o.ca_lifetime < 2 * o.lifetime)
    return usage_error ("%s", "--ca-lifetime must be at least twice --lifetime");

  if (strcmp (verb, "show") == 0)
    return kit_show (o.certdir, now, stdout, &err) < 0 ? rdind_error_report (&err, 1) : 0;
  if (strcmp (verb, "verify") == 0)
    {
      int n;
      o.peers = peers;
      n = kit_verify (&o, stdout, &err);
      if (n < 0)
        return rdind_error_report (&err, 1);
      if (n > 0)
        fprintf (stderr, "rotkit: %d problem%s in %s\n", n, n == 1 ? "" : "s", o.certdir);
      return n ? 1 : 0;
    }
  if (strcmp (verb, "issue") == 0)
    return kit_issue_client (&o, peers[0], out, &err) < 0 ? rdind_error_report (&err, 1) : 0;

  if (peers)
    o.peers = peers;
  else if (strcmp (verb, "renew") == 0)
    {
      /* Renew what is there: the peers that already have material. */
      if (kit_list_peers (o.certdir, &peers, &err) < 0)
        return rdind_error_report (&err, 1);
      if (peers[0] == NULL)
        {
          fprintf (stderr, "rotkit: no client material in %s: run rotkit init first\n", o.certdir);
          return 1;
        }
      o.peers = peers;
    }
  {
    time_t due = 0;
    if (kit_ensure (&o, &due, &err) < 0)
      return rdind_error_report (&err, 1);
    if (due)
      {
        struct tm tm;
        char buf[64];
        gmtime_r (&due, &tm);
        strftime (buf, sizeof (buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        log_info ("certificates ready", "certdir=%s next_renewal=%s", log_quote (0, o.certdir),
                  buf);
      }
  }
  return 0;
}
