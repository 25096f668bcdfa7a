"""`python -m lib.training [--config PATH] [--registry DIR]`: train, then serve the new version."""

from lib.training.pipeline import main

if __name__ == "__main__":
    raise SystemExit(main())
