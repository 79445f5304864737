"""``benchpin engraver list|retry|cancel|reengrave|unlock``: an operator's say over the laser's jobs.

The command edits the job journal in ``gateway.state_dir``; a running gateway sees the change
within a second, publishes the new state and, for a retry or a re-engraving, queues the job.
``unlock`` cannot open the laser's port (the gateway holds it): it journals the request, the
gateway sends ``$X``, and the command prints what came of it.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from benchpin.commands import add_config_argument, load_or_exit
from benchpin.config import StationConfig
from benchpin.contract import JobState
from gateway.settings import gateway_checks

if TYPE_CHECKING:
    from gateway.job_journal import JobJournal

JOB_STATES = tuple(state.value for state in JobState)
UNLOCK_WAIT_S = 10.0
CONFIRM = ("Unlock laser {engraver}: is it safe? The door is shut, nothing is left burning or in the way, "
           "and the cause of the alarm is cleared. [y/N] ")


def _config(args: argparse.Namespace) -> StationConfig:
    config = load_or_exit(args.config, checks=(gateway_checks,))
    if config.gateway is None:
        raise SystemExit(f"benchpin: {config.source}: no [gateway] section, so no engraver jobs")
    return config


def _journal(config: StationConfig) -> JobJournal:
    from gateway.engravers import journal_path  # imported lazily to keep --help fast
    from gateway.job_journal import JobJournal

    assert config.gateway is not None
    path = journal_path(config.gateway)
    if not path.exists():
        raise SystemExit(f"benchpin: no job journal yet at {path} (the gateway has not run an engraver)")
    return JobJournal(path)


def _list(args: argparse.Namespace) -> int:
    journal = _journal(_config(args))
    try:
        jobs = [j for j in journal.jobs(args.engraver) if not args.state or j.state in args.state]
        if not jobs:
            print("no jobs")
            return 0
        print("JOB\tENGRAVER\tSTATE\tPIECE\tTEXT\tATTEMPTS\tQUEUED\tUPDATED\tDETAIL")
        for job in jobs:
            request = job.request
            print(f"{job.job_id}\t{job.engraver}\t{job.state}\t{request.get('piece_id', '')}\t"
                  f"{request.get('text') or request.get('serial', '')}\t{job.attempts}\t{job.received}\t"
                  f"{job.updated}\t{job.detail}")
    finally:
        journal.close()
    return 0


def _act(args: argparse.Namespace) -> int:
    journal = _journal(_config(args))
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


def _reengrave(args: argparse.Namespace) -> int:
    journal = _journal(_config(args))
    try:
        problem, new_id = journal.reengrave(args.job_id, args.operator, args.reason)
    finally:
        journal.close()
    if problem:
        print(f"benchpin: {problem}", file=sys.stderr)
        return 1
    print(f"job {args.job_id}: re-engraving queued as job {new_id} (recorded: {args.operator}, {args.reason!r})")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    config = _config(args)
    assert config.gateway is not None
    known = [engraver.id for engraver in config.gateway.engravers]
    if args.engraver_id not in known:
        print(f"benchpin: no engraver {args.engraver_id!r} in {config.source} "
              f"(it has {', '.join(known) or 'none'})", file=sys.stderr)
        return 2
    if not args.yes:
        if not sys.stdin.isatty():
            print("benchpin: unlock needs the operator's confirmation: run it at a terminal, or pass --yes",
                  file=sys.stderr)
            return 1
        if input(CONFIRM.format(engraver=args.engraver_id)).strip().lower() not in ("y", "yes"):
            print("not unlocked")
            return 1
    journal = _journal(config)
    try:
        request_id = journal.request_unlock(args.engraver_id, args.operator)
        deadline = time.monotonic() + UNLOCK_WAIT_S
        while time.monotonic() < deadline:
            decision = journal.decision(request_id)
            if decision is not None and decision.outcome is not None:
                print(f"laser {args.engraver_id}: {decision.outcome}")
                return 0 if decision.outcome.startswith("unlocked") else 1
            time.sleep(0.2)
    finally:
        journal.close()
    print(f"laser {args.engraver_id}: unlock requested; the gateway has not acted on it within "
          f"{UNLOCK_WAIT_S:g}s (is it running?); it will when it polls the journal")
    return 1


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser(
        "engraver", help="list engraver jobs; retry, cancel or re-engrave one; unlock the laser after an alarm",
        description="Engraver jobs are never repeated by themselves: a job interrupted (crash, power cut, "
                    "door, reset) or failed waits for an operator. 'retry' queues it again, 'cancel' ends it. "
                    "A serial is engraved once: 'reengrave' (a supervisor, with a reason) queues one more firing "
                    "of a damaged one. 'unlock' clears the laser's alarm ($X) once a person has made it safe.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                    help="list, retry, cancel, reengrave or unlock")
    list_help = "print every job: id, engraver, state, piece, text, attempts, queued and updated times, detail"
    listing = actions.add_parser("list", help=list_help, description=list_help[0].upper() + list_help[1:] + ".")
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
    text = "queue one new firing of a job's serial (a damaged engraving); recorded with who and why"
    again = actions.add_parser("reengrave", help=text, description=text + ". The new job is JOB_ID.rN.")
    add_config_argument(again)
    again.add_argument("job_id", metavar="JOB_ID", help="the job that engraved the serial")
    again.add_argument("--operator", required=True, help="badge of the supervisor deciding (e.g. OP-0001)")
    again.add_argument("--reason", required=True, help="why the serial is engraved again")
    again.set_defaults(func=_reengrave)
    text = "clear the laser's alarm: the running gateway sends $X after you confirm the laser is safe"
    unlock = actions.add_parser("unlock", help=text, description=text + " (refused while the door is open).")
    add_config_argument(unlock)
    unlock.add_argument("engraver_id", metavar="ENGRAVER_ID", help="the engraver's id in the config")
    unlock.add_argument("--operator", default="", help="badge of the operator confirming (e.g. OP-0007)")
    unlock.add_argument("--yes", action="store_true", help="confirm without asking (for scripts)")
    unlock.set_defaults(func=_unlock)
