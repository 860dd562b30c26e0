#!/usr/bin/env python
"""Django's command-line utility for odportal."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "odportal.settings")
    if sys.argv[1:2] == ["demo"]:
        # The demo is development only (a known login, the published development keys): it
        # turns DEBUG on for itself and, through the environment, for the worker and beat it
        # starts. An explicit DEBUG=false still wins (and the demo then refuses to run).
        os.environ.setdefault("DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
