"""`rfmsync daemon`: one cron job per store in the store's time zone (APScheduler 3.x).

max_instances=1 and coalesce=True: a store never runs twice at once, and runs missed while the
machine slept collapse into one. A misfire grace time of 10 minutes lets a run that starts late
(busy machine, long previous run) still happen. SIGTERM or Ctrl-C lets the running store finish
its current batch, commit, and the process exit 0.
"""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rfmsync.core.errors import ConfigError, RfmsyncError
from rfmsync.sync.cli_help import CONFIG_HELP
from rfmsync.sync.run_cmds import describe, stop_on_signals

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from rfmsync.sync.config import Config

log = logging.getLogger("rfmsync.daemon")
MISFIRE_GRACE_SECONDS = 600


def add_parser(commands: Any) -> None:
    d = commands.add_parser("daemon", help="run every store on its schedule until stopped (SIGTERM, Ctrl-C)",
                            description="Run every store on its own cron schedule in its time zone until SIGTERM "
                                        "or Ctrl-C; the running store finishes its current batch first.")
    d.add_argument("--config", type=Path, required=True, metavar="FILE", help=CONFIG_HELP)
    d.set_defaults(run=run_daemon)


def run_one(config: Config, name: str, stop: threading.Event) -> None:
    """A scheduled run. Never raises: one bad run must not end the daemon."""
    from rfmsync.sync.pipeline import RunOptions, StoreBusy, run_store
    from rfmsync.sync.registry import build_store
    from rfmsync.sync.state import Database

    db = Database(config.state_path)  # SQLite connections belong to the thread that made them
    try:
        summary = run_store(db, build_store(config, name), RunOptions(kind="sync", stop=stop))
        log.info("%s", describe(summary, dry_run=False).replace("\n", "; "))
    except StoreBusy as exc:
        log.warning("%s", exc)
    except RfmsyncError as exc:
        log.error("store %s: run failed: %s", name, exc)
    except Exception as exc:
        # Our errors are safe to print; anything else may carry a payload, so name it by class.
        log.error("store %s: run failed with an unexpected %s", name, type(exc).__name__)
    finally:
        db.close()


def build_scheduler(config: Config, stop: threading.Event) -> BackgroundScheduler:
    # Imported when the command runs, not at start-up: `rfmsync score` should not load every connector.
    from apscheduler.schedulers.background import BackgroundScheduler
    from rfmsync.sync.schedule import cron_trigger

    scheduler = BackgroundScheduler(job_defaults={"max_instances": 1, "coalesce": True,
                                                  "misfire_grace_time": MISFIRE_GRACE_SECONDS})
    for name, store in config.stores.items():
        try:
            trigger = cron_trigger(store.schedule, ZoneInfo(store.timezone))
        except ValueError as exc:
            raise ConfigError(f"stores.{name}.schedule", f"not a cron expression: {exc}") from None
        scheduler.add_job(run_one, trigger, args=(config, name, stop), id=f"store:{name}", name=f"store {name}")
    return scheduler


def run_daemon(args: argparse.Namespace) -> int:
    from rfmsync.sync.config import load_config

    config = load_config(args.config)
    with stop_on_signals() as stop:
        scheduler = build_scheduler(config, stop)
        scheduler.start()
        for job in scheduler.get_jobs():
            log.info("%s: next run %s", job.name, job.next_run_time.isoformat(timespec="minutes"))
        stop.wait()
        log.info("stopping: the running store finishes its current batch")
        scheduler.shutdown(wait=True)
        log.info("stopped")
    return 0
