"""The test suite's environment: the development defaults, set before Django reads its settings.

``DEBUG`` is off unless set (production must never fall back to the published development keys),
so ``uv run pytest`` on a fresh clone turns it on for itself, as ``manage.py demo`` does. This is
a pytest plugin loaded with ``-p tests.env_defaults`` (pyproject's ``addopts``) because a
conftest.py is read only after pytest-django has already imported the settings. It uses
``setdefault``: a variable set by the caller (CI's, or ``DEBUG=false`` on purpose) wins, and
subprocesses the tests start (workers, ``manage.py``) inherit the same environment.

(pytest-django still runs each test with ``settings.DEBUG = False``, as Django's runner does.)
"""

from __future__ import annotations

import os

os.environ.setdefault("DEBUG", "true")
