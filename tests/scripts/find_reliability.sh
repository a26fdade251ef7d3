# Sourced by the plan's scripts: RELIABILITY is the installed command (its venv's Python, with the
# dependencies), else this checkout through a python3 that has the dependencies; else say what to do.
if command -v reliability >/dev/null 2>&1; then
  RELIABILITY=(reliability)
elif python3 -c 'import reliability.execute' >/dev/null 2>&1; then
  RELIABILITY=(python3 -m reliability)
else
  echo "$0: the reliability command is not installed: activate its venv, or run 'pip install .' in $(pwd)" >&2
  exit 2
fi
