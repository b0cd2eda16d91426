"""``audioguide series serve``: preview a built series folder in a browser (it alone loads http.server)."""

from __future__ import annotations

from pathlib import Path

import click

from audioguide.series.serve import make_server, server_url


@click.command("serve")
@click.argument(
    "folder", metavar="DIR", type=click.Path(file_okay=False, path_type=Path), default=Path("site")
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0 picks a free port."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on (0.0.0.0 lets other devices on the network listen too).",
)
def serve_command(folder: Path, port: int, host: str) -> None:
    """Preview a built series folder in a browser, with seeking (byte ranges); Ctrl-C stops it.

    A plain static server without byte ranges (python3 -m http.server) makes every chapter click
    restart the episode: a host must answer Range requests with 206 Partial Content.
    """

    server = make_server(folder, host, port)
    click.echo(f"Serving {folder} at {server_url(server)}  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
