"""Logging filter that masks anything shaped like an Open Dental key pair or header.

Defence in depth: code never logs keys on purpose, but a library might log a header or a URL.
"""

from __future__ import annotations

import logging
import re

_ODFHIR = re.compile(r"ODFHIR\s+[A-Za-z0-9]+/[A-Za-z0-9]+")


class RedactKeysFilter(logging.Filter):
    """Replace ``ODFHIR dev/cust`` in log messages with a masked form."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "ODFHIR" in message:
            record.msg = _ODFHIR.sub("ODFHIR ****/****", message)
            record.args = None
        return True
