"""``hub hub up`` and ``hub node up``: run the hub, or one node, as its operator would: its NATS
server (rendered from deploy/nats) and its services, each started by its own entry, until Ctrl-C
or SIGTERM; then the services drain and stop first and the NATS server last. Every child process
ends with the command, SIGKILL included (``shared/processes.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable

from hub import render
from hub.locate import Located, OperatorError, hub_nats_url, record_services, where
from hub.runner import until_interrupted
from hub.topology import HubTopology, Ports, Secrets, provisioned_hub
from services.activities.settings import ActivitiesSettings
from services.reporting import app as reporting_app
from services.reporting.settings import ReportingSettings
from shared.identity import SERVICES
from shared.processes import die_with_parent
from shared.pseudonym import MissingKey, load_pseudonymiser
from shared.settings import HubSettings
from shared.signing import MissingNodeKey, load_node_signer, node_keys_path


def deployment(settings: HubSettings, ports: Ports) -> HubTopology:
    """Secrets under the data folder (created on first use) and the hub's settings for
    leaf nodes."""
    secrets = Secrets.load_or_create(settings.secrets_dir, settings.nodes)
    settings = settings.model_copy(
        update={"node_domains": True, "auth_tokens_file": secrets.tokens_file}
    )
    return HubTopology(settings, secrets, ports)


async def run_hub(
    topology: HubTopology, host: str, port: int | None, reporting: bool = True
) -> None:
    """The hub's NATS server, its streams provisioned and its sources watched, and (unless
    `reporting` is off, when reporting runs as its own process: `hub hub reporting`) reporting
    served by its own entry."""
    topology.start_hub()
    try:
        async with provisioned_hub(topology):
            nats = f"hub NATS :{topology.ports.hub} (leaf links :{topology.ports.hub_leaf})"
            if not reporting:
                render.console.print(f"{nats}; reporting runs apart (`hub hub reporting`)")
                await until_interrupted()
                return
            port = port or topology.settings.service_port("reporting")
            render.console.print(f"{nats}; reporting http://{host}:{port}")
            settings, own = reporting_settings(topology.settings)
            await reporting_app.serve(
                settings, host=host, port=port, nats_url=topology.reporting_url, own=own
            )
    finally:
        await asyncio.to_thread(topology.stop)


class MissingSecrets(RuntimeError):
    """A node lacks a secret it cannot make itself: said before anything starts or migrates."""


def check_node_secrets(settings: HubSettings, node: str) -> None:
    """What a node's services will need and cannot make on their own, checked as they will load
    it, before the node's NATS server starts or any database migrates: one line naming each."""
    missing = []
    try:
        load_pseudonymiser(settings, ActivitiesSettings().pseudonym_key_file)
    except (MissingKey, OSError, ValueError) as exc:
        missing.append(f"the pupil pseudonym key ({exc})")
    try:
        load_node_signer(settings.node_key_file, settings.secrets_dir, node)
    except MissingNodeKey as exc:
        missing.append(f"the signing key ({exc})")
    if missing:
        raise MissingSecrets(f"{node}: missing " + "; ".join(missing))


def service_ports(settings: HubSettings, node: str, base_port: int | None) -> dict[str, int]:
    """Each node service's HTTP port: `base_port` + 1..3, else HUB_<SERVICE>_PORT (+10 per node)."""
    return {
        service: base_port + offset if base_port else settings.service_port(service, node)
        for offset, service in enumerate(SERVICES, start=1)
    }


def reporting_settings(settings: HubSettings) -> tuple[HubSettings, ReportingSettings]:
    """Reporting's settings in a deployment laid out by `hub hub up`: the node keys and API tokens
    from its secrets folder (unless set), streams left to the hub's operator, leaf-server nodes."""
    secrets = settings.secrets_dir
    laid_out = secrets / "tokens.json"
    tokens = settings.auth_tokens_file or (laid_out if laid_out.exists() else None)
    own = ReportingSettings()
    keys = own.node_keys_file or node_keys_path(secrets)
    return (
        settings.model_copy(update={"node_domains": True, "auth_tokens_file": tokens}),
        own.model_copy(update={"node_keys_file": keys, "provision_streams": False}),
    )


async def run_reporting(settings: HubSettings, host: str, port: int | None) -> None:
    """Reporting on its own, beside a hub NATS started by `hub hub up --no-reporting`: its NATS URL
    and password, node keys and API tokens found in the deployment's data folder (hub/locate.py)."""
    if not settings.nats_url and Located.find(settings.data_dir) is None:
        raise OperatorError(
            f"no deployment under {settings.data_dir} (no secrets/secrets.json): start "
            "`hub hub up --no-reporting` with this --data-dir first, or set HUB_NATS_URL"
        )
    url = hub_nats_url(settings, user="reporting")
    settings, own = reporting_settings(settings)
    port = port or settings.service_port("reporting")
    render.console.print(f"reporting http://{host}:{port} on NATS {where(url)}")
    await reporting_app.serve(settings, host=host, port=port, nats_url=url, own=own)


async def run_node(topology: HubTopology, node: str, host: str, base_port: int | None) -> None:
    """The node's NATS leaf server, then each of its services as its own process (`hub serve`, so
    each traces under its own name), until Ctrl-C or until one of them stops (exit 1: restart)."""
    settings = topology.settings
    if node not in settings.nodes:
        raise SystemExit(f"{node!r} is not one of the hub's nodes {settings.nodes} (HUB_NODES)")
    check_node_secrets(settings, node)
    topology.start_node(node)
    processes: list[asyncio.subprocess.Process] = []
    try:
        ports = service_ports(settings, node, base_port)
        record_services(
            settings.data_dir, {(node, s): f"http://{host}:{p}" for s, p in ports.items()}
        )
        for service, port in ports.items():
            processes.append(
                await _start_service(topology, service, node, host, port, ports["partners"])
            )
            render.console.print(f"{node} {service}: http://{host}:{port}")
        render.console.print(
            f"{node} NATS leaf server :{topology.ports.node(node)} → hub leaf "
            f":{topology.ports.hub_leaf}"
        )
        exit_code = await _first_to_finish(until_interrupted(), *(p.wait() for p in processes))
        if exit_code not in (None, 0):
            raise SystemExit(f"{node}: a service stopped; stopping the node")
    finally:
        await _stop(processes)
        await asyncio.to_thread(topology.stop)


async def _start_service(
    topology: HubTopology, service: str, node: str, host: str, port: int, partners_port: int
) -> asyncio.subprocess.Process:
    """`hub serve <service>` on the node's leaf server, with the node's settings (the NATS URL's
    password goes by environment, never on a command line others can read). In its own session,
    so a terminal's Ctrl-C reaches only this process, which stops it once; SIGTERM when this
    process ends without stopping it (it then drains as it would on systemd's stop)."""
    s = topology.settings
    env = {
        **os.environ,
        "HUB_NATS_URL": topology.node_services_url(node),
        "HUB_NODE_DOMAINS": "true",
        "HUB_AUTH_TOKENS_FILE": str(s.auth_tokens_file),
        "HUB_DATA_DIR": str(s.data_dir),
        "HUB_ACTIVITIES_PARTNERS_URL": f"http://{host}:{partners_port}",  # its settings register
    }
    args = ["-m", "hub.cli", "serve", service, "--node", node, "--host", host, "--port", str(port)]
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env=env,
        start_new_session=True,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )


async def _first_to_finish(*waits: Awaitable[int | None]) -> int | None:
    """Wait for the first of `waits` (an interrupt returns None, a process its exit code)."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return next(iter(done)).result()


async def _stop(processes: list[asyncio.subprocess.Process]) -> None:
    """Ask every service to stop as Ctrl-C would (they drain their relay),
    kill any that will not."""
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
