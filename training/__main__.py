"""`python -m training`: see training/cli.py and docs/training.md."""

from training.cli import main

raise SystemExit(main())
