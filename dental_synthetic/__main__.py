"""``python -m dental_synthetic generate --patients N --seed S --as-of YYYY-MM-DD --target URL|DIR``."""

import sys

from .cli import main

sys.exit(main())
