#!/bin/bash
# contrib/ examples: syntax and the fields the unprivileged promise rests on.
# GitLab CI file, runner config.toml, Tekton Task, Kubernetes pod, the seccomp
# profile and the Dockerfile.  Needs python3 with PyYAML (python3-yaml) and
# tomllib (Python >= 3.11); nothing runs, nothing is started.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_cmd python3
python3 -c 'import yaml' 2>/dev/null || skip "python3 has no yaml module (apt-get install python3-yaml)"
python3 -c 'import tomllib' 2>/dev/null || skip "python3 has no tomllib (needs Python >= 3.11)"

C=$top_srcdir/contrib
# The checker prints one "ok - ..." or "FAIL: ..." line per check and exits
# non-zero if any failed.
python3 - "$C" <<'EOF' >"$T/out" 2>&1
import json, sys, tomllib, yaml

C = sys.argv[1]
failed = 0
def check(desc, cond):
    global failed
    print(("ok - " if cond else "FAIL: ") + desc)
    if not cond:
        failed += 1

def load_yaml(name):
    with open(f"{C}/{name}") as f:
        return list(yaml.safe_load_all(f))

def walk(o):
    """Every (key, value) pair in a nested document."""
    if isinstance(o, dict):
        for k, v in o.items():
            yield k, v
            yield from walk(v)
    elif isinstance(o, list):
        for v in o:
            yield from walk(v)

def never_privileged(doc):
    return not any(k in ("privileged", "services_privileged") and v is True for k, v in walk(doc))

def health_probe(p):
    return isinstance(p, dict) and p.get("exec", {}).get("command") == ["rdind", "health"]

def env_of(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}

def sidecar_ok(where, c, certs_vol):
    sc = c.get("securityContext", {})
    check(f"{where}: not privileged", sc.get("privileged") is False)
    check(f"{where}: starts as root (rdind drops privileges itself)", sc.get("runAsUser") == 0)
    check(f"{where}: no privilege escalation (rdind maps ids itself as root)", sc.get("allowPrivilegeEscalation") is False)
    caps = sc.get("capabilities", {})
    check(f"{where}: capabilities: drop ALL", caps.get("drop") == ["ALL"])
    check(f"{where}: capabilities: only the root phase's added",
          set(caps.get("add", [])) == {"CHOWN", "DAC_OVERRIDE", "FOWNER", "MKNOD", "SETUID", "SETGID", "SETPCAP"})
    check(f"{where}: procMount Unmasked", sc.get("procMount") == "Unmasked")
    sp = sc.get("seccompProfile", {})
    check(f"{where}: seccomp profile Localhost rdind-seccomp.json",
          sp.get("type") == "Localhost" and sp.get("localhostProfile", "").endswith("rdind-seccomp.json"))
    check(f"{where}: AppArmor unconfined", sc.get("appArmorProfile", {}).get("type") == "Unconfined")
    check(f"{where}: startupProbe runs rdind health", health_probe(c.get("startupProbe")))
    check(f"{where}: readinessProbe runs rdind health", health_probe(c.get("readinessProbe")))
    check(f"{where}: client certificates volume at /certs/client",
          any(m["name"] == certs_vol and m["mountPath"] == "/certs/client" for m in c.get("volumeMounts", [])))

def client_ok(where, c, certs_vol):
    env = env_of(c)
    check(f"{where}: DOCKER_HOST=tcp://localhost:2376", env.get("DOCKER_HOST") == "tcp://localhost:2376")
    check(f"{where}: DOCKER_TLS_VERIFY=1", env.get("DOCKER_TLS_VERIFY") == "1")
    check(f"{where}: DOCKER_CERT_PATH=/certs/client", env.get("DOCKER_CERT_PATH") == "/certs/client")
    check(f"{where}: mounts the client certificates",
          any(m["name"] == certs_vol and m["mountPath"] == "/certs/client" for m in c.get("volumeMounts", [])))
    text = json.dumps(c)
    check(f"{where}: builds and runs an image", "docker build" in text and "docker run" in text)

def emptydir(vols, name):
    return any(v["name"] == name and "emptyDir" in v for v in vols)

# ---- GitLab CI ------------------------------------------------------------------
(gl,) = load_yaml("gitlab-ci.yml")
check("gitlab-ci.yml: never privileged", never_privileged(gl))
v = gl.get("variables", {})
for k, want in (("DOCKER_HOST", "tcp://docker:2376"), ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", "/certs/client"), ("DOCKER_TLS_CERTDIR", "/certs"),
                ("HEALTHCHECK_TCP_PORT", "2376")):
    check(f"gitlab-ci.yml: variables.{k} = {want}", str(v.get(k)) == want)
jobs = {n: j for n, j in gl.items() if isinstance(j, dict) and "script" in j}
check("gitlab-ci.yml: has jobs", len(jobs) >= 1)
for n, j in jobs.items():
    svcs = [s for s in j.get("services", []) if isinstance(s, dict)]
    check(f"gitlab-ci.yml: job {n} has the rdind service with alias docker",
          any(s.get("alias") == "docker" and "rdind" in s.get("name", "") for s in svcs))
    check(f"gitlab-ci.yml: job {n} builds and runs an image",
          any("docker build" in l for l in j["script"]) and any("docker run" in l for l in j["script"]))
k8s_jobs = [j for j in jobs.values() if j.get("variables", {}).get("DOCKER_HOST") == "tcp://localhost:2376"]
check("gitlab-ci.yml: a Kubernetes-executor job uses tcp://localhost:2376", len(k8s_jobs) == 1)

# ---- runner config.toml -----------------------------------------------------------
with open(f"{C}/gitlab-runner-config.toml", "rb") as f:
    rc = tomllib.load(f)
runners = {r["executor"]: r for r in rc["runners"]}
check("config.toml: docker and kubernetes executors", set(runners) == {"docker", "kubernetes"})
d = runners["docker"]["docker"]
check("config.toml docker: privileged = false", d.get("privileged") is False and d.get("services_privileged") is False)
so = d.get("services_security_opt", [])
check("config.toml docker: services_security_opt has rdind's seccomp profile",
      any(o.startswith("seccomp=") and o.endswith(".json") for o in so))
check("config.toml docker: services_security_opt has systempaths=unconfined", "systempaths=unconfined" in so)
check("config.toml docker: services_security_opt has apparmor=unconfined", "apparmor=unconfined" in so)
check("config.toml docker: /certs/client volume", "/certs/client" in d.get("volumes", []))
check("config.toml docker: no cap_add", not d.get("cap_add"))
k = runners["kubernetes"]["kubernetes"]
check("config.toml kubernetes: privileged = false", k.get("privileged") is False)
ssc = k.get("service_container_security_context", {})
check("config.toml kubernetes: no privilege escalation", k.get("allow_privilege_escalation") is False)
check("config.toml kubernetes: service capabilities drop ALL, add only the root phase's",
      ssc.get("capabilities", {}).get("drop") == ["ALL"] and set(ssc.get("capabilities", {}).get("add", []))
      == {"CHOWN", "DAC_OVERRIDE", "FOWNER", "MKNOD", "SETUID", "SETGID", "SETPCAP"})
check("config.toml kubernetes: service seccomp profile Localhost",
      ssc.get("seccomp_profile", {}).get("type") == "Localhost")
check("config.toml kubernetes: /certs/client emptyDir",
      any(e.get("mount_path") == "/certs/client" for e in k.get("volumes", {}).get("empty_dir", [])))

# ---- Tekton Task ------------------------------------------------------------------
(task,) = load_yaml("tekton-task.yaml")
check("tekton-task.yaml: a tekton.dev Task", task.get("kind") == "Task" and task.get("apiVersion", "").startswith("tekton.dev/"))
check("tekton-task.yaml: never privileged", never_privileged(task))
spec = task["spec"]
check("tekton-task.yaml: emptyDir docker-certs", emptydir(spec.get("volumes", []), "docker-certs"))
sc = [s for s in spec.get("sidecars", []) if "rdind" in s.get("image", "")]
check("tekton-task.yaml: rdind sidecar", len(sc) == 1)
if sc:
    sidecar_ok("tekton sidecar", sc[0], "docker-certs")
check("tekton-task.yaml: one step", len(spec.get("steps", [])) >= 1)
for s in spec.get("steps", []):
    client_ok(f"tekton step {s['name']}", s, "docker-certs")

# ---- Kubernetes pod -------------------------------------------------------------
docs = load_yaml("kubernetes-pod.yaml")
pods = [d for d in docs if d and d.get("kind") == "Pod"]
check("kubernetes-pod.yaml: one Pod", len(pods) == 1)
pod = pods[0]
check("kubernetes-pod.yaml: never privileged", never_privileged(pod))
ps = pod["spec"]
check("kubernetes-pod.yaml: hostUsers false (procMount Unmasked requires it)", ps.get("hostUsers") is False)
check("kubernetes-pod.yaml: emptyDir docker-certs", emptydir(ps.get("volumes", []), "docker-certs"))
cs = {c["name"]: c for c in ps["containers"]}
rd = [c for c in cs.values() if "rdind" in c.get("image", "")]
check("kubernetes-pod.yaml: rdind container", len(rd) == 1)
if rd:
    sidecar_ok("pod rdind", rd[0], "docker-certs")
    check("pod rdind: exposes only 2376", [p["containerPort"] for p in rd[0].get("ports", [])] == [2376])
jobs = [c for c in cs.values() if "rdind" not in c.get("image", "")]
check("kubernetes-pod.yaml: a job container", len(jobs) >= 1)
for c in jobs:
    client_ok(f"pod {c['name']}", c, "docker-certs")

# ---- seccomp profile ----------------------------------------------------------------
with open(f"{C}/seccomp.json") as f:
    sp = json.load(f)
check("seccomp.json: default action denies (SCMP_ACT_ERRNO)", sp.get("defaultAction") == "SCMP_ACT_ERRNO")
uncond = set()
for r in sp["syscalls"]:
    if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args") and not r.get("includes") and not r.get("excludes"):
        uncond.update(r["names"])
for s in ("unshare", "clone", "setns", "mount", "umount2", "pivot_root"):
    check(f"seccomp.json: {s} allowed without CAP_SYS_ADMIN", s in uncond)
for s in ("kexec_load", "init_module", "finit_module", "bpf", "perf_event_open", "open_by_handle_at",
          "reboot", "swapon", "keyctl", "add_key", "acct", "settimeofday", "iopl", "syslog", "ptrace",
          "userfaultfd", "clone3"):
    check(f"seccomp.json: {s} not unconditionally allowed", s not in uncond)
check("seccomp.json: socket(AF_VSOCK) still filtered",
      any(r["names"] == ["socket"] and r.get("args") for r in sp["syscalls"]) and "socket" not in uncond)

sys.exit(1 if failed else 0)
EOF
rc=$?
cat "$T/out"
[ $rc = 0 ] || fail "contrib examples: $(grep -c '^FAIL' "$T/out") check(s) failed"

# ---- Dockerfile --------------------------------------------------------------------
D=$C/Dockerfile
check "Dockerfile: Debian 13 slim base, for both stages" \
    [ "$(grep -cE '^FROM debian:trixie-slim( |$)' "$D") $(grep -c '^FROM ' "$D")" = "2 2" ]
check "Dockerfile: multi-stage build from the source tree" grep -q 'COPY --from=build' "$D"
check "Dockerfile: EXPOSE 2376 only" [ "$(grep -E '^EXPOSE' "$D")" = "EXPOSE 2376" ]
check "Dockerfile: ENTRYPOINT rdind sidecar" grep -qF 'ENTRYPOINT ["rdind", "sidecar"]' "$D"
check "Dockerfile: HEALTHCHECK rdind health" grep -qE '^HEALTHCHECK .*CMD \["rdind", "health"\]' "$D"
check "Dockerfile: DOCKER_TLS_CERTDIR=/certs" grep -qE '^ENV DOCKER_TLS_CERTDIR=/certs$' "$D"
check "Dockerfile: data root volume" grep -qE '^VOLUME /home/rootless/.local/share/rdind/docker$' "$D"
check "Dockerfile: newuidmap gets cap_setuid" grep -q 'setcap cap_setuid+ep /usr/bin/newuidmap' "$D"
check "Dockerfile: newgidmap gets cap_setgid" grep -q 'setcap cap_setgid+ep /usr/bin/newgidmap' "$D"
check "Dockerfile: setuid bit removed" grep -q 'chmod u-s /usr/bin/newuidmap /usr/bin/newgidmap' "$D"
check "Dockerfile: user rootless uid 1000" grep -q 'useradd .*--uid 1000 .*rootless' "$D"
exit 0
