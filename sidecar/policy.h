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
};

struct policy_decision
{
  enum policy_verdict verdict;
  const char *rule; /* the [policy] key that decided, for DENY */
  char msg[512];    /* what the client and the log are told */
};

/* What a request needs before it may pass. */
enum policy_need
{
  POLICY_NEED_NOTHING, /* forward as it comes */
  POLICY_NEED_BODY,    /* hold the body, then policy_check() */
  POLICY_NEED_TARGET,  /* policy_check() on the target alone (no body to read) */
};

/* Classifies METHOD (http-parser's name, "POST") and TARGET (the request
 * line's target, with query).  *HIJACK is set for requests after which the
 * connection carries raw streams (attach, exec start, BuildKit /session and
 * /grpc), so the gate stops framing it. */
enum policy_need policy_classify (const char *method, const char *target, bool *hijack);

/* Decides on one request; BODY may be NULL when LEN is 0. */
void policy_check (const struct conf_policy *p, const char *method, const char *target,
                   const char *body, size_t len, struct policy_decision *d);

/* An allowed bind source?  SRC as the client sent it; the path is cleaned
 * as dockerd cleans it and symlinks resolved as far as it exists. */
bool policy_bind_allowed (const struct conf_policy *p, const char *src);
/* An allowed image reference (REF as given; "name" also matches name:latest). */
bool policy_image_allowed (const struct conf_policy *p, const char *ref);

/* --- gate.c ------------------------------------------------------------ */

struct gate;

/* What a call hands back: bytes for dockerd, bytes for the client (a
 * refusal), and whether to close once the client's bytes are written. */
struct gate_out
{
  char *up;
  size_t up_len, up_cap;
  char *down;
  size_t down_len, down_cap;
  bool close;
};

/* PEER names the client in logs and refusals; P must outlive the gate. */
struct gate *gate_new (const struct conf_policy *p, const char *peer);
void gate_free (struct gate *g);
/* Client -> dockerd plaintext. */
void gate_from_client (struct gate *g, const char *data, size_t n, struct gate_out *out);
/* dockerd -> client plaintext (always passed on, by the caller, before
 * out->down); tracks answers so that a refusal keeps its place in line. */
void gate_from_dockerd (struct gate *g, const char *data, size_t n, struct gate_out *out);
/* After a hijack or an upgrade the connection is a raw stream both ways. */
bool gate_tunnel (const struct gate *g);
void gate_out_reset (struct gate_out *o);
void gate_out_free (struct gate_out *o);

#endif
