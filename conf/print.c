/* rdind config: the effective configuration, as an INI file that rdind can
 * read back, with the origin of each value as a comment. */
#include "config.h"
#include "conf-int.h"
#include "cmds.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

size_t conf_n_keys_ (void);
void conf_key_info_ (const struct rdind_conf *c, size_t i, const char **section, const char **key,
                     const char **raw, const char **origin, const char **help);

void
conf_print (const struct rdind_conf *c, FILE *out)
{
  const char *cur = "";
  fprintf (out, "; rdind effective configuration (file: %s)\n",
           conf_source_file (c) ? conf_source_file (c) : "none, embedded defaults");
  for (size_t i = 0; i < conf_n_keys_ (); i++)
    {
      const char *section, *key, *raw, *origin, *help;
      conf_key_info_ (c, i, &section, &key, &raw, &origin, &help);
      if (strcmp (section, cur) != 0)
        {
          fprintf (out, "\n[%s]\n", section);
          cur = section;
        }
      fprintf (out, "%s = %s", key, raw ? raw : "");
      /* inih takes ';' after white space as a comment: the output reads back. */
      fprintf (out, "%*s ; %s\n", (int) (28 - strlen (key) - strlen (raw ? raw : "")) > 0 ? (int) (28 - strlen (key) - strlen (raw ? raw : "")) : 0, "", origin);
    }
  /* [policy.PEER] sections, each peer's keys together. */
  const struct conf_priv *cp = (const struct conf_priv *) c;
  for (size_t i = 0; i < cp->n_ovr; i++)
    {
      bool first = true;
      for (size_t j = 0; j < i; j++)
        first = first && strcmp (cp->ovr[j].peer, cp->ovr[i].peer) != 0;
      if (!first)
        continue;
      fprintf (out, "\n[policy.%s]\n", cp->ovr[i].peer);
      for (size_t j = i; j < cp->n_ovr; j++)
        if (strcmp (cp->ovr[j].peer, cp->ovr[i].peer) == 0)
          fprintf (out, "%s = %s ; %s\n", conf_keys[cp->ovr[j].idx].key, cp->ovr[j].raw, cp->ovr[j].origin);
    }
}

int
rdind_cmd_config (struct rdind_conf *conf, int argc, char **argv)
{
  static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
  int c;
  optind = 1;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    {
      if (c == 'h')
        {
          printf ("Usage: rdind config [--config FILE]\n"
                  "Prints the effective configuration with the origin of each value\n"
                  "(default, FILE:LINE or the environment variable). Paths left empty\n"
                  "are shown as resolved for the current user.\n");
          return 0;
        }
      fprintf (stderr, "Usage: rdind config [--config FILE]\n");
      return 2;
    }
  if (optind < argc)
    {
      fprintf (stderr, "rdind config: unexpected argument '%s'\nUsage: rdind config [--config FILE]\n", argv[optind]);
      return 2;
    }
  conf_resolve_paths (conf);
  conf_print (conf, stdout);
  return 0;
}
