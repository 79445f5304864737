"""``benchpin engraver list|retry|cancel``: an operator's say over interrupted and failed jobs.

The command edits the job journal in ``gateway.state_dir``; a running gateway sees the change
within a second, publishes the new state and, for a retry, queues the job again.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from benchpin.commands import add_config_argument, load_or_exit
from benchpin.contract import JobState
from gateway.settings import gateway_checks

if TYPE_CHECKING:
    from gateway.job_journal import JobJournal

JOB_STATES = tuple(state.value for state in JobState)


def _journal(args: argparse.Namespace) -> JobJournal:  # imported lazily to keep --help fast
    config = load_or_exit(args.config, checks=(gateway_checks,))
    if config.gateway is None:
        raise SystemExit(f"benchpin: {config.source}: no [gateway] section, so no engraver jobs")
    from gateway.engravers import journal_path
    from gateway.job_journal import JobJournal

    path = journal_path(config.gateway)
    if not path.exists():
        raise SystemExit(f"benchpin: no job journal yet at {path} (the gateway has not run an engraver)")
    return JobJournal(path)


def _list(args: argparse.Namespace) -> int:
    journal = _journal(args)
    try:
        jobs = [j for j in journal.jobs(args.engraver) if not args.state or j.state in args.state]
        for job in jobs:
            request = job.request
            print(f"{job.job_id}\t{job.engraver}\t{job.state}\t{request.get('piece_id', '')}\t"
                  f"{request.get('text') or request.get('serial', '')}\tattempts={job.attempts}\t{job.detail}")
        if not jobs:
            print("no jobs")
    finally:
        journal.close()
    return 0


def _act(args: argparse.Namespace) -> int:
    journal = _journal(args)
    try:
        action = journal.retry if args.action == "retry" else journal.cancel
        problem = action(args.job_id, args.operator)
    finally:
        journal.close()
    if problem:
        print(f"benchpin: {problem}")
        return 1
    print(f"job {args.job_id}: {'queued again' if args.action == 'retry' else 'cancelled'}")
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser(
        "engraver", help="list engraver jobs; retry or cancel an interrupted or failed one",
        description="Engraver jobs are never repeated by themselves: a job interrupted (crash, power cut, "
                    "door, reset) or failed waits for an operator. 'retry' queues it again, 'cancel' ends it.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                    help="list, retry or cancel (ACTION --help says more)")
    listing = actions.add_parser("list", help="print every job: id, engraver, state, piece, text, attempts, detail",
                                 description="Print every job of the journal, one per line: id, engraver, state, "
                                             "piece, text, attempts, detail.")
    add_config_argument(listing)
    listing.add_argument("--engraver", metavar="ENGRAVER_ID", help="only this engraver's jobs")
    listing.add_argument("--state", action="append", choices=JOB_STATES, metavar="STATE",
                         help=f"only jobs in this state (repeatable): {', '.join(JOB_STATES)}")
    listing.set_defaults(func=_list)
    for name, text in (("retry", "queue an interrupted, failed or rejected job again"),
                       ("cancel", "cancel a queued, interrupted, failed or rejected job")):
        act = actions.add_parser(name, help=text, description=text)
        add_config_argument(act)
        act.add_argument("job_id", metavar="JOB_ID", help="the job's id, as 'engraver list' prints it")
        act.add_argument("--operator", default="", help="badge of the operator deciding (e.g. OP-0007)")
        act.set_defaults(func=_act)
