"""The Docker route: a PostgreSQL 17 + pg_cron container through testcontainers, where an engine answers.

Detection is a 1-second ``/_ping`` on the engine's socket, so machines with a docker client but no
engine (like our CI) move on at once. The image is the official ``postgres:17`` plus
``postgresql-17-cron`` from apt.postgresql.org (already configured in that image), built once and
tagged locally. The container is named ``pgcron-dev-<name>`` and outlives the CLI process
(testcontainers' reaper is disabled for it); ``pgcron dev down`` removes it.
"""

from __future__ import annotations

import http.client
import logging
import os
import shlex
import socket
import tempfile
from pathlib import Path
from typing import Any

from pgcron.errors import DevServerError

logger = logging.getLogger(__name__)

IMAGE_TAG = "pgcron-dev/postgres-17-cron:1"
_DOCKERFILE = """\
FROM postgres:17-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-17-cron \\
 && rm -rf /var/lib/apt/lists/*
"""


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def engine_answers(timeout: float = 1.0) -> str | None:
    """None if a Docker engine answers ``/_ping``; otherwise the reason it does not."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    conn: http.client.HTTPConnection
    if host.startswith("unix://"):
        path = host[len("unix://") :]
        if not Path(path).exists():
            return f"no Docker engine ({path} does not exist)"
        conn = _UnixHTTPConnection(path, timeout)
    elif host.startswith("tcp://"):
        hostport = host[len("tcp://") :]
        name, _, port = hostport.partition(":")
        conn = http.client.HTTPConnection(name, int(port or 2375), timeout=timeout)
    else:
        return f"DOCKER_HOST={host} is not a unix:// or tcp:// address"
    try:
        conn.request("GET", "/_ping")
        response = conn.getresponse()
        ok = response.status == 200
    except OSError as exc:
        return f"no Docker engine answers at {host} ({exc})"
    finally:
        conn.close()
    return None if ok else f"the Docker engine at {host} did not answer /_ping"


def unavailable_reason() -> str | None:
    reason = engine_answers()
    if reason:
        return reason
    try:
        import testcontainers  # noqa: F401
    except ImportError:
        return "testcontainers is not installed (pip install 'pgcron[docker]')"
    return None


def start(name: str, port: int, background_workers: bool, timezone: str | None) -> dict[str, Any]:
    """Start (or reuse) the container for instance ``name``; returns state fields."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the container must outlive us
    import docker  # type: ignore[import-untyped]
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.image import DockerImage

    client = docker.from_env()
    container_name = f"pgcron-dev-{name}"
    try:
        existing = client.containers.get(container_name)
        if existing.status != "running":
            existing.start()
        return {"container": existing.id, "container_name": container_name}
    except docker.errors.NotFound:
        pass
    try:
        client.images.get(IMAGE_TAG)
    except docker.errors.ImageNotFound:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "Dockerfile").write_text(_DOCKERFILE, encoding="utf-8")
            with DockerImage(path=tmp, tag=IMAGE_TAG, clean_up=False):
                pass
    settings = [
        "-c",
        "listen_addresses=*",
        "-c",
        "shared_preload_libraries=pg_cron",
        "-c",
        "cron.database_name=postgres",
        "-c",
        f"cron.use_background_workers={'on' if background_workers else 'off'}",
        "-c",
        "max_worker_processes=32",
        "-c",
        "fsync=off",
    ]
    if timezone:
        settings += ["-c", f"cron.timezone={timezone}"]
    container = (
        DockerContainer(IMAGE_TAG, command=shlex.join(["postgres", *settings]), name=container_name)
        .with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
        .with_bind_ports(5432, port)
    )
    try:
        container.start()
    except Exception as exc:
        raise DevServerError(f"could not start the pg_cron container: {exc}") from exc
    return {"container": container.get_wrapped_container().id, "container_name": container_name}


def stop(container_id: str) -> None:
    import docker

    try:
        docker.from_env().containers.get(container_id).remove(force=True)
    except docker.errors.NotFound:
        logger.info("container %s was already gone", container_id)
