# contrib/: the unprivileged image, the seccomp profile, CI examples.
EXTRA_DIST += contrib/Dockerfile contrib/Dockerfile.dockerignore contrib/seccomp.json \
	contrib/gitlab-ci.yml contrib/gitlab-runner-config.toml contrib/tekton-task.yaml \
	contrib/kubernetes-pod.yaml

# The examples' syntax and required fields: needs only python3 (+ python3-yaml).
TESTS += tests/e2e/contrib-yaml.sh
EXTRA_DIST += tests/e2e/contrib-yaml.sh

if ENABLE_E2E
# Builds the image and runs it unprivileged under an outer dockerd of its own
# (root, dockerd, debootstrap and the Debian mirror; several minutes).
TESTS += tests/e2e/contrib-image.sh
endif
EXTRA_DIST += tests/e2e/contrib-image.sh

if ENABLE_E2E
# The local sandbox as a developer uses it: rdind run by a non-root account
# from the defaults, in a session of its own, stopped with Ctrl-C (about a
# minute and a half).
TESTS += tests/e2e/sandbox.sh
# contrib/sandbox.sh itself, as a newcomer runs it: builds and installs in
# the account's ~/.local, then starts twice (about 40 s).
TESTS += tests/e2e/sandbox-script.sh
endif
EXTRA_DIST += tests/e2e/sandbox.sh tests/e2e/unix-call.c tests/e2e/sandbox-script.sh contrib/rdind.service
