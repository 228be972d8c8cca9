"""`bricksync emulator serve`: the emulator's command group, registered by the bricksync CLI
(bricksync/cli.py adds it when the command is used, so no other command pays for the import)."""

from __future__ import annotations

from collections.abc import Callable

import click


def emulator_group(announce: Callable[[str], None]) -> click.Group:
    """The `emulator` group; `announce` prints the served URL (the CLI passes its redacting stderr)."""

    @click.group()
    def emulator() -> None:
        """The local Databricks workspace emulator (for development, demos and tests)."""

    @emulator.command("serve")
    @click.option("--port", default=8765, show_default=True, type=int)
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--token", default=None, help="Bearer token to accept (default: the emulator's fixed token).")
    @click.option("--state", "state_file", type=click.Path(dir_okay=False), help="Load at start, save on exit (JSON).")
    @click.option("--latency-ms", default=0.0, show_default=True, type=float, help="Added to every request.")
    @click.option("--fault", "faults", multiple=True,
                  help="Fault rule 'METHOD PATH STATUS [count=N] [after] [drop] [retry_after=S] [p=0.1]'.")
    @click.option("--seed", "seed_demo", is_flag=True, help="Seed sample compute and jobs (test workspace flavour).")
    @click.option("--id-base", type=click.IntRange(min=1), default=None,
                  help="First job ID (default: random per process, so two emulators never share IDs).")
    def emulator_serve(port: int, host: str, token: str | None, state_file: str | None, latency_ms: float,
                       faults: tuple[str, ...], seed_demo: bool, id_base: int | None) -> None:
        """Serve one emulated workspace until interrupted."""
        from . import DEFAULT_TOKEN, EmulatorServer, FaultRule
        from .server import serve_until_interrupted

        server = EmulatorServer(host=host, port=port, token=token or DEFAULT_TOKEN, latency_ms=latency_ms,
                                state_file=state_file, id_base=id_base)
        for spec in faults:
            try:
                server.faults.add(FaultRule.parse(spec))
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--fault") from None
        serve_until_interrupted(server, seed_demo=seed_demo, token_given=bool(token), announce=announce)

    return emulator
