#!/usr/bin/env bash
# Make promtool (Prometheus' rule checker) available to the tests that evaluate the generated
# alerting rules, and print one line on stdout:
#
#     export SHIM_TEST_PROMTOOL=/usr/bin/promtool
#
# so that CI can run `eval "$(.ci/promtool.sh)"` before the tests. Everything else goes to stderr.
# Missing promtool is installed with apt-get (Debian's `prometheus` package, needs root); no
# Prometheus server is started or needed.
set -euo pipefail

exec 3>&1 1>&2 # stdout is reserved for the export line

if ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "promtool.sh: promtool is not installed; install it (apt-get install prometheus) or run as root on Debian" >&2
        exit 1
    fi
    echo "promtool.sh: installing prometheus (for promtool) with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
fi
echo "export SHIM_TEST_PROMTOOL=$(command -v promtool)" >&3
