"""The browser fixtures of the end-to-end tests, for the image rehearsal's UI check."""

from tests.e2e.conftest import browser, page  # noqa: F401  (pytest fixtures)
