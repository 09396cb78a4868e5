"""Entry point of the case benchmark: data-local jobs inside PostgreSQL vs the app tier vs Airflow.

    python benchmarks/run_case.py [--dsn postgresql://…] [--rows 1000000] [--repeats 3] [--large]

Prints a table, writes ``benchmarks/results/case.json`` and the plots in ``docs/img/``. See
``docs/benchmarks.md`` for what is measured and how, and ``python benchmarks/run_case.py --help``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from case.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
