# Test harness shared by every subsystem; each subsystem's local.mk adds its
# own unit tests (TAP C programs) and end-to-end scripts (tests/e2e/*.sh).
EXTRA_DIST += tests/e2e/lib.sh tests/e2e/clients-lib.sh tests/run-all.sh tests/deps.sh contrib/sandbox.sh
noinst_HEADERS = tests/unit/tap.h tests/unit/splice-pipes.h

# The CLI and configuration test needs neither root nor dockerd.
TESTS += tests/e2e/cli.sh
EXTRA_DIST += tests/e2e/cli.sh

if ENABLE_E2E
# The cgroup v2 tier: a Debian 13 guest under QEMU (software emulation) runs
# the guest scripts of tests/vm/ with the build under test.  The image is
# built once and cached (a few minutes); each run boots it (a few minutes).
TESTS += tests/e2e/cgroup2-vm.sh
endif
EXTRA_DIST += tests/e2e/cgroup2-vm.sh tests/vm
