/* rdind sidecar: certificates and reload.  Keeps the certdir renewed on a
 * timer, refreshes allow_from host names, and on SIGHUP prepares a new
 * configuration, certificates and TLS context aside, swapping them in only
 * when all of it worked. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "conf.h"
#include "log.h"
#include "sidecar-int.h"
#include "util.h"
#include "ctx.h"
#include "kit.h"

static void on_cert_timer (uv_timer_t *t);

int
sidecar_ensure_certs (const struct rdind_conf *conf, time_t *next_due, rdind_error_t *err)
{
  struct kit_opts o;
  kit_opts_from_conf (conf, &o);
  o.now = time (NULL);
  return kit_ensure (&o, next_due, err);
}

/* A renewal that failed only for lack of space (ENOSPC, EDQUOT) need not
 * stop a start when what is on disk still passes every check (chain, names,
 * key match, expiry, permissions): the timer retries.  Any other failure,
 * a guard of the certdir above all, stays fatal. */
bool
sidecar_renewal_can_wait (const struct rdind_conf *conf, const struct rdind_error_s *why)
{
  struct kit_opts o;
  rdind_error_t err = NULL;
  FILE *null;
  int problems;

  if (why == NULL || (why->status != ENOSPC && why->status != EDQUOT))
    return false;
  null = fopen ("/dev/null", "we");
  if (null == NULL)
    return false;
  kit_opts_from_conf (conf, &o);
  o.now = time (NULL);
  problems = kit_verify (&o, null, &err);
  fclose (null);
  rdind_error_release (&err);
  return problems == 0;
}

void
sidecar_arm_cert_timer (time_t next_due)
{
  time_t now = time (NULL);
  uint64_t ms = next_due > now ? (uint64_t)(next_due - now) * 1000 : 1000;
  /* Re-check at least hourly: clocks jump, files get replaced. */
  if (ms > 3600 * 1000)
    ms = 3600 * 1000;
  uv_timer_start (&S.cert_timer, on_cert_timer, ms, 0);
}

static void
on_cert_timer (uv_timer_t *t UNUSED)
{
  rdind_error_t err = NULL;
  time_t next_due = time (NULL) + 3600;
  if (sidecar_ensure_certs (S.conf, &next_due, &err) < 0
      || tls_ctx_reload (&S.ctx, S.conf->certdir, &err) < 0)
    {
      log_error ("certificate renewal failed, keeping the current ones", "error=%s",
                 log_quote (0, err->msg));
      rdind_error_release (&err);
      next_due = time (NULL) + 60;
    }
  else
    log_info ("certificates checked", "next_due_s=%lld", (long long)(next_due - time (NULL)));
  sidecar_arm_cert_timer (next_due);
}

void
sidecar_on_name_timer (uv_timer_t *t UNUSED)
{
  char **n = sidecar_resolve_names (S.conf->allow_from);
  strv_free (S.resolved);
  S.resolved = n;
}

/* Settings bound into the running process: the sockets are open, the
 * privileges dropped and the certdir prepared for that account.  They keep
 * their old value until the sidecar restarts. */
static const char *const restart_keys[]
    = { "sidecar.listen", "sidecar.status_listen", "sidecar.user", "tls.certdir" };

/* SIGHUP: the configuration (file + environment, as at start) and the
 * certificates again.  Everything is prepared aside (new configuration,
 * renewed certificates, new TLS context) and swapped in only when all of it
 * worked; otherwise the old configuration and context stay in force. */
void
sidecar_reload (void)
{
  rdind_error_t err = NULL;
  struct rdind_conf *nc = NULL;
  const char *src = conf_source_file (S.conf);
  log_info ("SIGHUP: reloading configuration and certificates", "file=%s certdir=%s",
            log_quote (0, src ? src : "-"), log_quote (1, S.conf->certdir));
  if (conf_reload (S.conf, &nc, &err) < 0)
    {
      log_error ("reload failed, keeping the current configuration and certificates", "error=%s",
                 log_quote (0, err->msg));
      rdind_error_release (&err);
      return;
    }

  cleanup_strv char **diff = conf_diff (S.conf, nc);
  cleanup_strv char **live = xmalloc0 (sizeof (char *));
  cleanup_strv char **later = xmalloc0 (sizeof (char *));
  for (char **k = diff; *k; k++)
    {
      bool bound = false;
      for (size_t i = 0; i < ARRAY_SIZE (restart_keys); i++)
        bound = bound || strcmp (*k, restart_keys[i]) == 0;
      if (bound)
        {
          log_warn ("setting needs a restart, keeping the current value", "key=%s applies=%s", *k,
                    log_quote (0, "at the next sidecar restart"));
          conf_copy_key (nc, S.conf, *k);
          strv_append (&later, *k);
        }
      else if (strncmp (*k, "launcher.", 9) == 0)
        {
          /* The launcher reads the file again each time it starts. */
          log_warn ("setting needs a restart", "key=%s applies=%s", *k,
                    log_quote (0, "at the next dockerd restart"));
          strv_append (&later, *k);
        }
      else
        strv_append (&live, *k);
    }

  /* Certificates for the new peers, names and lifetimes; a new context. */
  struct tls_ctx_holder fresh = { NULL };
  time_t next_due = time (NULL) + 3600;
  if (sidecar_ensure_certs (nc, &next_due, &err) < 0
      || tls_ctx_reload (&fresh, nc->certdir, &err) < 0)
    {
      log_error ("reload failed, keeping the current configuration and certificates", "error=%s",
                 log_quote (0, err->msg));
      rdind_error_release (&err);
      tls_ctx_holder_release (&fresh);
      conf_free (nc);
      return;
    }
  tls_ctx_holder_release (&S.ctx);
  S.ctx = fresh;
  sidecar_arm_cert_timer (next_due);

  /* New connections take the new configuration; open ones keep theirs. */
  struct conf_gen *g = xmalloc0 (sizeof *g);
  g->conf = nc;
  g->owned = true;
  struct conf_gen *old = S.gen;
  S.gen = g;
  S.conf = nc;
  if (old->users == 0)
    conf_gen_free (old);
  else
    {
      old->next = S.retired;
      S.retired = old;
    }
  log_set_level ((enum log_level)conf_log_level (S.conf->log_level));
  sidecar_on_name_timer (NULL);

  cleanup_free char *live_s = strv_join (live, ",");
  cleanup_free char *later_s = strv_join (later, ",");
  log_info ("configuration reloaded", "changed=%s pending_restart=%s", *live_s ? live_s : "none",
            *later_s ? later_s : "none");
}
