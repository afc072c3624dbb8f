/* rdind - configuration: the table of every key, its type, default, limits
 * and help text.  Adding a key means a line here and a field in struct
 * rdind_conf; parsing, the environment override, `rdind config`, reload
 * and diff all follow from the table. */
#include "config.h"

#include <stddef.h>

#include "conf-int.h"
#include "util.h"

#define O(f) offsetof (struct rdind_conf, f)

const struct key_def conf_keys[] = {
  { "sidecar", "listen", V_HOSTPORT, O (listen), "0.0.0.0:2376", NULL, 0, 0,
    "TLS endpoint address, ip:port ([v6]:port for IPv6); default 0.0.0.0:2376 in a container, else 127.0.0.1:2376" },
  { "sidecar", "peers", V_PEERS, O (peers), "client", NULL, 0, 0,
    "client certificate names allowed to connect (comma separated)" },
  { "sidecar", "allow_from", V_ALLOW, O (allow_from), "", NULL, 0, 0,
    "optional source addresses, CIDRs or host names allowed to connect" },
  { "sidecar", "user", V_NAME_OPT, O (user), "rootless", NULL, 0, 0,
    "account to drop to when started as root" },
  { "sidecar", "stop_timeout", V_DURATION, O (stop_timeout), "15s", NULL, 0, 3600,
    "time dockerd gets to stop its containers on SIGTERM" },
  { "sidecar", "restart", V_ENUM, O (restart), "on-failure", "on-failure|never|always", 0, 0,
    "restart policy for a dockerd that exits" },
  { "sidecar", "status_listen", V_HOSTPORT_OPT, O (status_listen), "", NULL, 0, 0,
    "plain-HTTP /healthz and /metrics address (empty: off)" },
  { "sidecar", "handshake_timeout", V_DURATION, O (handshake_timeout), "10s", NULL, 1, 300,
    "time a client gets to finish the TLS handshake" },
  { "sidecar", "max_connections", V_UINT, O (max_connections), "1024", NULL, 1, 65536,
    "concurrent client connections" },
  { "sidecar", "log_level", V_ENUM, O (log_level), "info", "debug|info|warn|error", 0, 0,
    "log verbosity" },

  { "tls", "certdir", V_PATH_OPT, O (certdir), "", NULL, 0, 0,
    "DOCKER_TLS_CERTDIR layout (empty: /certs for root or a writable /certs in a container, else $XDG_STATE_HOME/rdind/certs)" },
  { "tls", "lifetime", V_DURATION, O (lifetime), "24h", NULL, 300, 825 * 86400,
    "validity of server and client certificates" },
  { "tls", "ca_lifetime", V_DURATION, O (ca_lifetime), "30d", NULL, 600, 3650 * 86400,
    "validity of the CA certificate" },
  { "tls", "key_type", V_ENUM, O (key_type), "ecdsa-p256", "ecdsa-p256|rsa2048|rsa3072|rsa4096", 0,
    0, "key algorithm" },
  { "tls", "server_names", V_NAMES, O (server_names), "", NULL, 0, 0,
    "extra server names (DNS names or IP addresses)" },
  { "tls", "client_group", V_NAME_OPT, O (client_group), "", NULL, 0, 0,
    "group allowed to read client keys (0640); empty: keys are 0600" },

  { "launcher", "data_root", V_PATH_OPT, O (data_root), "", NULL, 0, 0,
    "dockerd data root (empty: $XDG_DATA_HOME/rdind/docker)" },
  { "launcher", "state_dir", V_PATH_OPT, O (state_dir), "", NULL, 0, 0,
    "sockets, pid files, exec root (empty: $XDG_RUNTIME_DIR/rdind or /tmp/rdind-UID)" },
  { "launcher", "storage_driver", V_ENUM, O (storage_driver), "auto",
    "auto|overlay2|fuse-overlayfs|vfs", 0, 0, "dockerd storage driver" },
  { "launcher", "net", V_ENUM, O (net), "slirp4netns", "slirp4netns|pasta", 0, 0,
    "the namespace's way out: slirp4netns, or pasta (package passt: faster egress)" },
  { "launcher", "port_driver", V_ENUM, O (port_driver), "native", "native|slirp4netns", 0, 0,
    "published ports: native (the launcher splices them) or slirp4netns (hostfwd to docker-proxy)" },
  { "launcher", "pull_path", V_ENUM, O (pull_path), "direct", "direct|slirp", 0, 0,
    "dockerd's own registry traffic (pull, push, FROM): direct (a proxy of the launcher's, from the host's network) or slirp (through the namespace's network, as containers)" },
  { "launcher", "mtu", V_UINT, O (mtu), "65520", NULL, 1280, 65520, "MTU of the tap device" },
  { "launcher", "cidr", V_STR, O (cidr), "10.0.2.0/24", NULL, 0, 0,
    "slirp4netns network (IPv4 CIDR)" },
  { "launcher", "dockerd", V_STR, O (dockerd), "dockerd", NULL, 0, 0, "dockerd binary" },
  { "launcher", "dockerd_args", V_ARGS, O (dockerd_args), "", NULL, 0, 0,
    "extra dockerd arguments (white-space separated; no -H/--host, no --tls*)" },
  { "launcher", "slirp4netns", V_STR, O (slirp4netns), "slirp4netns", NULL, 0, 0,
    "slirp4netns binary" },
  { "launcher", "pasta", V_STR, O (pasta), "pasta", NULL, 0, 0, "pasta binary (launcher.net = pasta)" },
  { "launcher", "namespaces", V_NSLIST, O (namespaces), "pid,uts,ipc", NULL, 0, 0,
    "namespaces besides user, mount and network: pid (required), uts, ipc, cgroup" },

  { "cache", "dir", V_PATH_OPT, O (cache_dir), "", NULL, 0, 0,
    "persistent directory of layer-cache slots (empty: off); a daemon locks a free dir/slot-N as its data root" },
  { "cache", "slots", V_UINT, O (cache_slots), "4", NULL, 1, 64, "most slots under cache.dir" },
  { "cache", "max_size", V_UINT, O (cache_max_size), "0", NULL, 0, 0,
    "prune a slot to this size before the endpoint opens (K/M/G/T suffixes; 0: no cap)" },
  { "cache", "drop_tags", V_ENUM, O (cache_drop_tags), "no", "no|yes", 0, 0,
    "untag cached images at start, so every FROM and pull re-resolves while layers are reused" },
  { "cache", "registry_mirror", V_URL_OPT, O (cache_registry_mirror), "", NULL, 0, 0,
    "registry mirror for dockerd and its BuildKit (http(s)://host[:port])" },
  { "cache", "insecure_registries", V_REGISTRIES, O (cache_insecure_registries), "", NULL, 0, 0,
    "registries reached over plain HTTP (host:port or CIDR), such as a local mirror" },

  { "policy", "enabled", V_ENUM, O (policy.enabled), "no", "no|yes", 0, 0,
    "inspect API requests (container create/update, exec, volume create, image pull) before dockerd" },
  { "policy", "allow_binds", V_ABSPATHS, O (policy.allow_binds), "", NULL, 0, 0,
    "host paths binds may use (that path and below); empty: no host bind at all" },
  { "policy", "allow_images", V_IMAGES, O (policy.allow_images), "*", NULL, 0, 0,
    "image references containers may use and pulls may fetch ('*' at the end: any rest)" },
  { "policy", "allow_privileged", V_ENUM, O (policy.allow_privileged), "no", "no|yes", 0, 0,
    "allow --privileged containers and execs, and unconfined seccomp/apparmor/systempaths" },
  { "policy", "allow_host_namespaces", V_ENUM, O (policy.allow_host_namespaces), "no", "no|yes", 0,
    0, "allow --network/--pid/--ipc/--uts/--userns/--cgroupns=host" },
  { "policy", "allow_devices", V_ENUM, O (policy.allow_devices), "no", "no|yes", 0, 0,
    "allow --device, --gpus and device cgroup rules" },
  { "policy", "deny_caps", V_CAPS, O (policy.deny_caps),
    "ALL,SYS_ADMIN,SYS_MODULE,SYS_RAWIO,SYS_PTRACE,SYS_BOOT,SYS_TIME,NET_ADMIN,DAC_READ_SEARCH,"
    "MAC_ADMIN,MAC_OVERRIDE,BPF,PERFMON,SYSLOG",
    NULL, 0, 0, "capabilities --cap-add may not add" },
  { "policy", "max_body", V_UINT, O (policy.max_body), "1048576", NULL, 4096, 64 << 20,
    "largest request body (bytes) the front reads to check; larger: 400" },
};

const size_t conf_n_keys = ARRAY_SIZE (conf_keys);
const char *const conf_sections[] = { "sidecar", "tls", "launcher", "cache", "policy" };
const size_t conf_n_sections = ARRAY_SIZE (conf_sections);

_Static_assert(ARRAY_SIZE (conf_keys) <= CONF_MAX_KEYS, "raise CONF_MAX_KEYS in conf-int.h");
