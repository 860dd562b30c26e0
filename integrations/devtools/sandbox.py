"""Pointing this process and the ones it starts at a local Open Dental sandbox (demo, benches).

Remote offices go to ``OPENDENTAL_REMOTE_BASE_URL``, and the sandbox listens on loopback, which
the network guard refuses unless ``ODPORTAL_ALLOWED_NETWORKS`` lists it (development lists
loopback; a benchmark may run with production settings). ``sandbox_settings`` sets both, here
and in the environment its child processes (worker, beat) inherit, for the duration of a block.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

from django.conf import settings


def sandbox_env(base_url: str) -> dict[str, str]:
    """The settings (as environment variables) that send Remote offices to the sandbox."""
    networks = list(settings.ODPORTAL_ALLOWED_NETWORKS)
    host = urlsplit(base_url).hostname or ""
    for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM):
        network = str(ipaddress.ip_network(info[4][0]))
        if network not in networks:
            networks.append(network)
    return {"OPENDENTAL_REMOTE_BASE_URL": base_url, "ODPORTAL_ALLOWED_NETWORKS": ",".join(networks)}


@contextlib.contextmanager
def sandbox_settings(base_url: str) -> Iterator[dict[str, str]]:
    """Within the block, Remote offices of this process and its children use the sandbox."""
    env = sandbox_env(base_url)
    saved_env = {name: os.environ.get(name) for name in env}
    saved = (settings.OPENDENTAL_REMOTE_BASE_URL, settings.ODPORTAL_ALLOWED_NETWORKS)
    os.environ.update(env)
    settings.OPENDENTAL_REMOTE_BASE_URL = env["OPENDENTAL_REMOTE_BASE_URL"]
    settings.ODPORTAL_ALLOWED_NETWORKS = env["ODPORTAL_ALLOWED_NETWORKS"].split(",")
    try:
        yield env
    finally:
        settings.OPENDENTAL_REMOTE_BASE_URL, settings.ODPORTAL_ALLOWED_NETWORKS = saved
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
