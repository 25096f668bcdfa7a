"""`python -m lib.training [--config PATH] [--registry DIR]`: train, then serve the new version."""

from lib.training.threads import cap_threads

cap_threads()  # before numpy loads its libraries (lib.training.threads says why)

from lib.training.pipeline import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
