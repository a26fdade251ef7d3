# RE: reports an error and exits with a non-zero status.
import sys

print("invalid input", file=sys.stderr)
sys.exit(3)
