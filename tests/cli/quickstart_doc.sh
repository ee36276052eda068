#!/usr/bin/env bash
# docs/quickstart.md is the output of a run: rerun its commands with the built lector and the
# shared small test encoder, and fail if the page and the run differ (timings aside).
# Skipped without the shared folder.
set -uo pipefail
bin=${LECTOR_BIN:?}
src=${LECTOR_SOURCE_DIR:?}
py=${LECTOR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
LECTOR_SHARED=${LECTOR_SHARED:-${LECTOR_SHARED_DEFAULT:-}} "$py" "$src/scripts/dev/quickstart_transcript.py" \
  "$(dirname "$bin")" --check
