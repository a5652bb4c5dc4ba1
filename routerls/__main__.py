"""`python -m routerls [ARGS]`: the command line; with no arguments, the language server on stdio."""

import sys

from routerls.cli import main

sys.exit(main(sys.argv[1:] or ["serve"]))
