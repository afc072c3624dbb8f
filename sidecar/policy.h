/* rdind - the API policy: what the TLS front lets through to dockerd.
 *
 * policy.c decides on one request (method, target, body) against a struct
 * conf_policy; it is pure (no I/O but realpath() of bind sources), so the
 * unit tests and the fuzzer call it directly.  gate.c frames the requests
 * of one connection with http-parser, holds the bodies that need a look,
 * and keeps the answers in order when it must refuse one. */
#ifndef RDIND_POLICY_H
#define RDIND_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

enum policy_verdict
{
  POLICY_ALLOW,
  POLICY_DENY, /* 403: a rule refuses it */
  POLICY_BAD,  /* 400: cannot be checked (malformed JSON, ambiguous keys...) */
  POLICY_UPSTREAM, /* the effect check's object: dockerd's own error, passed on */
};

struct policy_decision
{
  enum policy_verdict verdict;
  const char *rule; /* the [policy] key that decided, for DENY */
  char msg[512];    /* what the client and the log are told */
  int status;       /* POLICY_UPSTREAM: dockerd's status */
  char id[80];      /* effect checks: the object's full id, as dockerd recorded it */
};

/* What a request needs before it may pass. */
enum policy_need
{
  POLICY_NEED_NOTHING, /* forward as it comes */
  POLICY_NEED_BODY,    /* hold the body, then policy_check() */
  POLICY_NEED_TARGET,  /* policy_check() on the target alone (no body to read) */
};

/* The effect check: dockerd's own record of what a request starts or
 * created, read back over the sidecar's own connection to its socket. */
enum policy_effect
{
  POLICY_EFFECT_NONE,
  POLICY_EFFECT_START,       /* before container start/restart: inspect it first */
  POLICY_EFFECT_EXEC_START,  /* before exec start: inspect the exec and its container */
  POLICY_EFFECT_CREATED,     /* after a 201 to container create: inspect what was made */
  POLICY_EFFECT_EXEC_MADE,   /* after a 201 to exec create */
};

struct policy_class
{
  enum policy_need need;
  enum policy_effect effect;
  /* After the request dockerd may switch protocols (attach, exec start,
   * BuildKit's /session and /grpc): the gate waits for its answer before
   * reading the client's next bytes, and tunnels only on a switch. */
  bool hijack;
  /* For POLICY_EFFECT_START / EXEC_START: the object as the client named it
   * (its raw path segments), for the inspection's path. */
  char name[256];
  char action[16]; /* "start" or "restart" */
};

/* Classifies METHOD (http-parser's name, "POST") and TARGET (the request
 * line's target, with query). */
void policy_classify (const char *method, const char *target, struct policy_class *c);

/* Decides on one request; BODY may be NULL when LEN is 0. */
void policy_check (const struct conf_policy *p, const char *method, const char *target,
                   const char *body, size_t len, struct policy_decision *d);

/* The effect check.  FETCH returns what dockerd answered to GET PATH (its
 * status in *STATUS, the body and its length), or NULL when the gate has
 * not fetched it yet.  policy_effect() returns 1 with *NEED (malloc'd) the
 * next path to fetch, or 0 with the decision in D; for the object itself
 * (PRIMARY) an answer other than 200 is passed on to the client as dockerd
 * gave it (D->verdict POLICY_UPSTREAM, D->status). */
typedef const char *(*policy_fetch_fn) (void *ctx, const char *path, int *status, size_t *len);
int policy_effect (const struct conf_policy *p, enum policy_effect kind, const char *primary,
                   policy_fetch_fn fetch, void *ctx, char **need, struct policy_decision *d);

/* Paths no bind may reach, whatever allow_binds says (certdir, state_dir,
 * data_root): a bind of one of them, of a path below or of a parent. */
void policy_set_protected (char **paths);

/* An allowed bind source?  SRC as the client sent it; the path is cleaned
 * as dockerd cleans it and symlinks resolved as far as it exists. */
bool policy_bind_allowed (const struct conf_policy *p, const char *src);
/* An allowed image reference (REF as given; "name" also matches name:latest). */
bool policy_image_allowed (const struct conf_policy *p, const char *ref);

/* --- gate.c ------------------------------------------------------------ */

struct gate;

/* What a call hands back: bytes for dockerd, bytes for the client (dockerd's
 * answers as they pass, and refusals in their place), whether to close
 * once the client's bytes are written, and requests the effect checks
 * want made to dockerd's socket (one per check: GATE_CHECK_PRE before a
 * start, GATE_CHECK_POST after a create; method "GET" or "DELETE"; answer
 * each with gate_lookup_done()). */
enum
{
  GATE_CHECK_PRE,
  GATE_CHECK_POST,
};

struct gate_out
{
  char *up;
  size_t up_len, up_cap;
  char *down;
  size_t down_len, down_cap;
  bool close;
  char *lookup[2]; /* path, or NULL */
  const char *lookup_method[2];
};

/* PEER names the client in logs and refusals; P must outlive the gate. */
struct gate *gate_new (const struct conf_policy *p, const char *peer);
void gate_free (struct gate *g);
/* Client -> dockerd plaintext.  Call only while gate_wants_client(). */
void gate_from_client (struct gate *g, const char *data, size_t n, struct gate_out *out);
/* dockerd -> client plaintext (DATA NULL: dockerd closed).  Everything for
 * the client is in out->down: the caller passes on nothing else.  Call
 * only while gate_wants_dockerd(). */
void gate_from_dockerd (struct gate *g, const char *data, size_t n, struct gate_out *out);
/* The answer to out->lookup[SLOT]: STATUS (0: no answer, a transport
 * error) and its body. */
void gate_lookup_done (struct gate *g, int slot, int status, const char *body, size_t len, struct gate_out *out);
/* Backpressure: while a request waits for dockerd's answer (a possible
 * protocol switch), an effect check or a refusal's turn, the client's next
 * bytes must stay unread; while an answer is held for a check, dockerd's. */
bool gate_wants_client (const struct gate *g);
bool gate_wants_dockerd (const struct gate *g);
/* After dockerd switched protocols the connection is a raw stream both
 * ways: the caller stops calling the gate. */
bool gate_tunnel (const struct gate *g);
void gate_out_reset (struct gate_out *o);
void gate_out_free (struct gate_out *o);
/* Bytes the gates of every connection hold now (request heads and bodies,
 * held answers); held bytes are capped across connections. */
size_t gate_held_bytes (void);

#endif
