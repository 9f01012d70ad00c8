#!/usr/bin/env bash
# Print a Python >= 3.12 interpreter (Mesa 3.5 needs it), or explain how to get one.
set -u
candidates=("${PYTHON:-}" python3.13 python3.12 python3)
for dir in /root/.pyenv/versions/3.1[2-9]* "$HOME"/.pyenv/versions/3.1[2-9]*; do
  [ -x "$dir/bin/python" ] && candidates+=("$dir/bin/python")
done
for py in "${candidates[@]}"; do
  [ -n "$py" ] || continue
  if "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
    command -v "$py" || echo "$py"
    exit 0
  fi
done
echo "error: no Python >= 3.12 found (Mesa 3.5 needs it). Install one, e.g. 'pyenv install 3.12'," >&2
echo "       or point PYTHON=/path/to/python3.12 at it." >&2
exit 1
