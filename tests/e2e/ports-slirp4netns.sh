#!/bin/bash
# tests/e2e/ports.sh with launcher.port_driver = slirp4netns.
export RDIND_LAUNCHER_PORT_DRIVER=slirp4netns
exec bash "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/ports.sh"
