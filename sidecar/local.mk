noinst_LIBRARIES += libsidecar.a
libsidecar_a_SOURCES = sidecar/sidecar.h sidecar/sidecar-int.h sidecar/sidecar.c sidecar/front.c \
	sidecar/ready.c sidecar/supervise.c sidecar/reload.c sidecar/status.c sidecar/privs.c sidecar/health.c \
	sidecar/policy.h sidecar/policy.c sidecar/gate.c sidecar/parse.c sidecar/cache.c

if ENABLE_E2E
TESTS += tests/e2e/sidecar-basic.sh tests/e2e/sidecar-limits.sh tests/e2e/clients.sh tests/e2e/policy.sh \
	tests/e2e/policy-attack.sh tests/e2e/cache.sh tests/e2e/mtu.sh \
	tests/e2e/faults.sh tests/e2e/faults-disk.sh
endif
EXTRA_DIST += tests/e2e/sidecar-basic.sh tests/e2e/sidecar-limits.sh tests/e2e/clients.sh tests/e2e/policy.sh \
	tests/e2e/policy-attack.sh tests/e2e/policy-attack.py tests/e2e/cache.sh tests/e2e/mtu.sh \
	tests/e2e/client-docker-py.py tests/e2e/client-node.js tests/e2e/ryuk-standin.c tests/e2e/faults.sh tests/e2e/faults-disk.sh tests/e2e/flood.py \
	tests/node/package.json tests/node/package-lock.json

check_PROGRAMS += tests/unit/test-policy
TESTS += tests/unit/test-policy
tests_unit_test_policy_SOURCES = tests/unit/test-policy.c
tests_unit_test_policy_LDADD = libsidecar.a libconf.a libcommon.a $(RDIND_EXT_LIBS)
