#!/bin/bash
# tests/e2e/ports.sh with launcher.net = pasta (and the native port driver).
export RDIND_LAUNCHER_NET=pasta
exec bash "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/ports.sh"
