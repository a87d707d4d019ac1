"""`python -m jupyter_tinyml.eval --model M ...`: the command line of the evaluation (cli.main)."""
import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
