"""One thread for the numeric libraries while training.

On a busy 2-core machine, BLAS and OpenMP threads fighting each other made training 5 to
15 times slower than with one thread. The variables must be set before numpy loads its
libraries, so the training command and retraining jobs set them as they start; an
operator's own values win.
"""

from __future__ import annotations

import os

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def cap_threads() -> None:
    for name, value in ONE_THREAD.items():
        os.environ.setdefault(name, value)
