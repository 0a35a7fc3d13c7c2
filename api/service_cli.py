"""``mattefarm serve | worker | submit | status | cancel | pause | resume | retry``: service mode.

``serve`` runs the API, ``worker`` a Celery worker (ingest/assemble on the
``cpu`` queue, chunks on ``render``); ``submit``, ``status`` and ``cancel``
talk to a running API (``--server``, default ``MATTEFARM_SERVER`` or
``http://127.0.0.1:8000``).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from api.face_args import add_face_args, face_options
from api.keyer_args import add_keyer_arg, add_preview_first_arg, keyer_controls_help, keyer_overrides
from api.matte_args import add_matte_args, matte_options
from models.choices import MATTE_SOURCES, OUTPUT_CODECS, X264_PRESETS

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from api.client import MattefarmClient

DEFAULT_SERVER = os.environ.get("MATTEFARM_SERVER", "http://127.0.0.1:8000")


def add_ray_address(parser: argparse.ArgumentParser) -> None:
    """``--ray-address``: the Ray cluster to join (default ``MATTEFARM_RAY_ADDRESS``; empty: a
    private local instance, never the machine's current cluster)."""
    parser.add_argument("--ray-address", metavar="HOST:PORT",
                        help="Ray cluster to join (default MATTEFARM_RAY_ADDRESS; none: a private local Ray)")


def add_service_commands(sub: argparse._SubParsersAction, chunk_args: Any) -> None:
    """Register the service-mode subcommands on the ``mattefarm`` parser."""
    serve = sub.add_parser("serve", help="run the API and dashboard (service mode)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    worker = sub.add_parser("worker", help="run a Celery worker for the job stages")
    worker.add_argument("--queues", default="cpu,render", help="queues to take tasks from (default cpu,render)")
    worker.add_argument("--concurrency", type=int, default=1, help="tasks at once (one render pool per process)")
    add_ray_address(worker)
    submit = sub.add_parser("submit", help="submit shots to a Mattefarm server (MATTEFARM_SERVER)",
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=keyer_controls_help())
    submit.add_argument("files", nargs="+", metavar="FILE", help="source videos (one job each)")
    submit.add_argument("--background", metavar="PLATE", help="background plate: image or video")
    submit.add_argument("--matte", action="store_true", help="also deliver the matte")
    submit.add_argument("--codec", choices=OUTPUT_CODECS, default="h264")
    submit.add_argument("--crf", type=int, help="h264 quality, 0-51 (default 18)")
    submit.add_argument("--preset", choices=X264_PRESETS, metavar="PRESET",
                        help=f"x264 preset: {', '.join(X264_PRESETS)} (default veryfast)")
    submit.add_argument("--screen", default="auto")
    submit.add_argument("--priority", type=int, default=50, help="0-100, higher first (default 50)")
    submit.add_argument("--webhook", metavar="URL", help="told when each job ends (a signed JSON POST; "
                                                         "default: your user's webhook)")
    chunk_args(submit)
    add_keyer_arg(submit)
    add_preview_first_arg(submit)
    add_face_args(submit)
    add_matte_args(submit)
    submit.add_argument("--matte-source", choices=MATTE_SOURCES, default="screen",
                        help="where the matte comes from (render's --matte; here --matte delivers the matte pass): "
                             "screen (the keyer, default), or for a shot without a screen portrait, modnet, birefnet, "
                             "rvm (the farm's registry weights)")
    submit.add_argument("--wait", action="store_true", help="show live progress until every job ends")
    controls = (("status", "show jobs, or one job and its chunks"), ("cancel", "cancel a job"),
                ("pause", "pause a job (running chunks go back to pending)"), ("resume", "resume a paused job"),
                ("retry", "retry a failed or cancelled job (only its unfinished chunks)"))
    for name, text in controls:
        parser = sub.add_parser(name, help=text)
        parser.add_argument("job", nargs="?" if name == "status" else None, metavar="JOB")
    token = sub.add_parser("token", help="users and API tokens (on the farm's database)")
    tokens = token.add_subparsers(dest="token_command", required=True)
    create = tokens.add_parser("create", help="a new token for USER (made if missing); printed on the last line")
    create.add_argument("user", metavar="USER")
    create.add_argument("--admin", action="store_true", help="the user sees and controls every job")
    create.add_argument("--webhook", metavar="URL", help="told when any of the user's jobs ends (signed JSON POST)")
    tokens.add_parser("list", help="every token: id, user, admin, created, last used, revoked")
    revoke = tokens.add_parser("revoke", help="revoke a token by its id (or the token itself)")
    revoke.add_argument("token_id", metavar="TOKEN_ID")
    for parser in tokens.choices.values():
        parser.add_argument("--db", metavar="URL", help="database URL (default MATTEFARM_DATABASE_URL, or SQLite in ~/.mattefarm)")
    for parser in (submit, *(sub.choices[name] for name, _ in controls)):
        parser.add_argument("--server", default=DEFAULT_SERVER, help=f"API URL (default {DEFAULT_SERVER})")
        parser.add_argument("--token", default=os.environ.get("MATTEFARM_TOKEN"), help="API token (MATTEFARM_TOKEN)")


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    """Run the API (uvicorn) until interrupted."""
    import uvicorn

    console.print(f"Mattefarm API on http://{args.host}:{args.port} (dashboard at /, docs at /docs)")
    uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_worker(args: argparse.Namespace, console: Console) -> int:
    """Run a Celery worker on the given queues until interrupted."""
    if args.ray_address is not None:
        os.environ["MATTEFARM_RAY_ADDRESS"] = args.ray_address  # read by the worker's settings
    from jobs.celery_app import app

    pool = "solo" if args.concurrency == 1 else "prefork"
    app.worker_main(["worker", "-Q", args.queues, "--pool", pool, "--concurrency", str(args.concurrency), "-l", "INFO"])
    return 0


def _client(args: argparse.Namespace) -> MattefarmClient:
    from api.client import MattefarmClient  # httpx only for the commands that talk to a server

    return MattefarmClient(args.server, args.token)


def _follow(client: MattefarmClient, job: dict[str, Any], bar: Progress, task: TaskID, ends: dict[str, str]) -> None:
    """Update one progress bar from the job's events until it ends."""
    from api.client import TERMINAL_STATES as TERMINAL
    from api.client import ApiError

    try:
        for event in client.events(job["id"]):
            bar.update(task, completed=event.get("frames_done", 0), total=event.get("frames_total") or None,
                       status=f"{event['state']} {event['stage']}")
            if event["state"] in TERMINAL:
                ends[job["id"]] = event["state"] if event["state"] != "failed" else f"failed: {event.get('error')}"
    except ApiError as error:
        ends[job["id"]] = f"unknown ({error})"


def submit_render(args: argparse.Namespace) -> dict[str, Any]:
    """The ``render`` fields of a job ``mattefarm submit`` sends (:class:`api.schemas.JobCreate`), from its
    options; files travel as upload parts, so none of their paths is here."""
    render: dict[str, Any] = {"codec": args.codec, "screen": args.screen}
    given = (("chunk_frames", args.chunk_frames), ("chunk_seconds", args.chunk_seconds), ("crf", args.crf),
             ("preset", args.preset), ("preview_first", args.preview_first or None))
    render |= {k: v for k, v in given if v is not None}
    if args.keyer:
        render["keyer"] = keyer_overrides(args.keyer)
    if args.face:
        render |= face_options(args, with_path=False)
    if args.garbage != "none":
        render |= matte_options(args, with_path=False)
    if args.matte_source != "screen":
        render["matte"] = args.matte_source
    return render


def _check_upload(flag: str, path: str | None) -> None:
    """Check that a matte file to upload is one file that exists (an image sequence is many files).

    Raises:
        InputError: a sequence name, or no such file.
    """
    if path is None:
        return
    from models.choices import is_sequence_name
    from models.errors import InputError

    if is_sequence_name(path):
        raise InputError(f"{flag} {Path(path).name} is an image sequence, which cannot be uploaded as one part",
                         "pass a matte video, a still or roto shapes (.json), or render on the farm's machine")
    if not Path(path).is_file():
        raise InputError(f"{flag} {Path(path).name} does not exist", "check the matte's path")


def cmd_submit(args: argparse.Namespace, console: Console) -> int:
    """Upload each file as a job; with ``--wait``, a live progress bar per job until all end.

    Every source and the plate are checked here before anything is uploaded.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from workers.paths import check_source_path
    from workers.plates import check_plate

    for path in args.files:
        check_source_path(path)
    if args.background:
        check_plate(args.background)
    for flag, path in (("--garbage-matte", args.garbage_matte), ("--core-matte", args.core_matte)):
        _check_upload(flag, path)
    client = _client(args)
    render = submit_render(args)
    options = {"render": render, "matte": args.matte, "priority": args.priority, "owner": os.environ.get("USER", "")}
    if args.webhook:
        options["webhook_url"] = args.webhook
    jobs = []
    for path in args.files:
        job = client.submit(path, args.background, options, face=args.face, reference=args.reference_image,
                            garbage=args.garbage_matte, core=args.core_matte)
        console.print(f"submitted {path} as job {job['id']}")
        jobs.append((path, job))
    if not args.wait:
        return 0
    ends: dict[str, str] = {}
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
               TimeRemainingColumn()]
    with Progress(*columns, console=console) as bar:
        threads = []
        for path, job in jobs:
            task = bar.add_task(os.path.basename(path), total=None, status=job["state"])
            thread = threading.Thread(target=_follow, args=(client, job, bar, task, ends), daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
    for path, job in jobs:
        console.print(f"{path}: {ends.get(job['id'], 'unknown')}  ({args.server}/v1/jobs/{job['id']}/output)")
    return 0 if all(ends.get(j["id"]) == "done" for _, j in jobs) else 1


def _progress_text(job: dict[str, Any]) -> str:
    total = job["frames_total"] or 0
    share = f"{100 * job['frames_done'] / total:.0f}%" if total else "-"
    return f"{job['frames_done']}/{total} ({share})"


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    """A table of jobs, or one job with its chunks."""
    client = _client(args)
    if args.job is None:
        table = Table(expand=False)
        table.add_column("job", no_wrap=True, min_width=12)
        table.add_column("shot", overflow="fold", min_width=8)
        for name in ("state", "stage", "progress", "fps", "ETA s", "priority", "owner", "submitted"):
            table.add_column(name, overflow="fold")
        for job in client.jobs()["jobs"]:
            table.add_row(job["id"][:12], job["shot"], job["state"], job["stage"], _progress_text(job),
                          f"{job['fps']:.1f}" if job["fps"] else "-", f"{job['eta_s']:.0f}" if job["eta_s"] else "-",
                          str(job["priority"]), job["owner"], job["created_at"][:19].replace("T", " "))
        _print_wide(console, table)
        return 0
    job = client.job(args.job)
    console.print(f"job {job['id']} ({job['shot']}): {job['state']} ({job['stage']}), {_progress_text(job)}"
                  + (f", error: {job['error']}" if job["error"] else ""), soft_wrap=True)
    table = Table("chunk", "frames", "state", "done", "attempts", "worker", "node", "seconds", "error")
    for c in job["chunks"]:
        table.add_row(str(c["index"]), f"{c['frame_start']}-{c['frame_end'] - 1}", c["state"], str(c["frames_done"]),
                      str(c["attempts"]), c["worker"] or "-", c["node_host"] or "-",
                      f"{c['seconds']:.1f}" if c["seconds"] else "-", c["error"] or "")
    _print_wide(console, table)
    return 0


def _print_wide(console: Console, table: Table) -> None:
    """Print a table whole: on a terminal it fits the width (cells fold, nothing is cut);
    piped, it is as wide as its content needs (no 80-column default)."""
    if console.is_terminal:
        console.print(table)
        return
    wide = Console(file=console.file, width=console.measure(table).maximum + 4, no_color=True)
    wide.print(table)


def cmd_control(args: argparse.Namespace, console: Console) -> int:
    """``pause``, ``resume``, ``retry``: change the job's state on the server."""
    job = _client(args).action(args.job, args.command)
    console.print(f"job {job['id']}: {job['state']}")
    return 0


def cmd_cancel(args: argparse.Namespace, console: Console) -> int:
    """Cancel a job and wait (a few seconds) until its render has stopped."""
    client = _client(args)
    job = client.action(args.job, "cancel")
    console.print(f"job {job['id']}: {job['state']}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(c["state"] != "running" for c in client.job(args.job)["chunks"]):
            return 0
        time.sleep(0.5)
    console.print("the render has not confirmed the stop yet; check 'mattefarm status JOB'")
    return 1


def cmd_token(args: argparse.Namespace, console: Console) -> int:
    """``token create|list|revoke``: users and API tokens, straight on the database."""
    from jobs.db import make_engine, session_factory
    from jobs.settings import Settings
    from jobs.users import create_token, list_tokens, revoke_token

    settings = Settings(**({"database_url": args.db} if args.db else {}))
    with session_factory(make_engine(settings.resolved_database_url()))() as session:
        if args.token_command == "create":
            row, token = create_token(session, args.user, args.admin, args.webhook)
            role = "admin" if row.user.admin else "user"
            console.print(f"token {row.id} for {role} {row.user.name}; it is shown only now:")
            print(token, flush=True)
        elif args.token_command == "revoke":
            console.print(f"token {revoke_token(session, args.token_id).id} revoked")
        else:
            table = Table("token", "user", "admin", "created", "last used", "revoked")
            for row in list_tokens(session):
                table.add_row(row.id, row.user.name, "yes" if row.user.admin else "", _when(row.created_at),
                              _when(row.last_used_at), _when(row.revoked_at))
            console.print(table)
    return 0


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


SERVICE_COMMANDS = {"token": cmd_token, "serve": cmd_serve, "worker": cmd_worker, "submit": cmd_submit, "status": cmd_status,
                    "cancel": cmd_cancel, "pause": cmd_control, "resume": cmd_control, "retry": cmd_control}
