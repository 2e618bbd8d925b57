"""``python -m tools.train``: same as the ``bmxnet-train`` console script."""
import sys

from .cli import main

sys.exit(main())
