"""`python3 -m fluxkit.tuning --config FILE` (what `fluxkit tune` runs): the studies of [tune].

With --worker K --workers N it is one worker process of a local pool (started by the coordinator): it runs
trials only, the coordinator writes the result files. Exit status: 0 done, 1 failed, 2 bad configuration.
"""
from __future__ import annotations

import argparse
import logging
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fluxkit tune", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="pipeline configuration (TOML)")
    ap.add_argument("--config-source", default=None, help="the file the configuration came from (messages)")
    ap.add_argument("--workers", type=int, default=None, help="worker processes on this machine")
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--trials", type=int, default=None, help="at most this many trials per model in each worker")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    from .. import _core
    from ..pipeline import Config
    from . import SpaceError, TuneError, tune
    from .study import run_worker, settings

    try:
        cfg = Config(args.config)
        if args.worker is not None:
            s = settings(cfg)
            logging.getLogger("fluxkit.tune").info("worker %d of %d", args.worker, args.workers or 1)
            run_worker(cfg, s, args.worker, args.workers or 1, args.trials, args.deadline)
            return 0
        tune(cfg, workers=args.workers, trials=args.trials)
        return 0
    except (SpaceError, _core.ConfigError) as e:
        source = f" ({args.config_source})" if args.config_source else ""
        print(f"fluxkit tune: configuration error{source}: {e}", file=sys.stderr)
        return 2
    except (TuneError, _core.Error) as e:
        print(f"fluxkit tune: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
