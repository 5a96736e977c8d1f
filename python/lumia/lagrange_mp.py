#!/usr/bin/env python3
"""LUMIA's transport script, answered by fluxkit.

LUMIA v2020 starts its transport model as

    python <model.transport.exec> --rc forward.<step>.rc --forward --db observations.<step>.tar.gz \
        --emis modelData.<step>.nc --checkfile <dir>/forward.ok
    python <model.transport.exec> --adjoint --db departures.tar.gz --rc adjoint.rc --emis adjoint.nc \
        --checkfile <dir>/adjoint.ok

Naming this file in the rc instead of LUMIA's own transport/lagrange_mp.py,

    model.transport.exec : /path/to/fluxkit/python/lumia/lagrange_mp.py

makes every such call a run of `fluxkit transport` with the same arguments: this script replaces itself by
`fluxkit transport <its arguments>` (exec: same process, same standard input, output and error), so LUMIA
sees fluxkit's exit status and the check file fluxkit writes on success.

The fluxkit binary is the path in the environment variable FLUXKIT if it is set, else `fluxkit` on PATH.
Neither found: a message on standard error and exit status 2.

Python 3 standard library only; it does not import fluxkit or LUMIA and may be copied anywhere.
"""
import os
import sys

ENV = "FLUXKIT"


def find_fluxkit():
    """The fluxkit binary to run, or (None, reason)."""
    path = os.environ.get(ENV)
    if path:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path, None
        return None, "%s=%s is not an executable file" % (ENV, path)
    # PATH searched here rather than with shutil.which: importing shutil (re, bz2, lzma) costs more than the
    # rest of this script, and LUMIA starts it twice per iteration
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(directory or os.curdir, "fluxkit")
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path, None
    return None, "fluxkit not found: set %s to the path of the fluxkit binary, or put fluxkit on PATH" % ENV


def main(argv):
    exe, reason = find_fluxkit()
    if exe is None:
        sys.stderr.write("%s: %s\n" % (os.path.basename(argv[0]), reason))
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(exe, [exe, "transport"] + argv[1:])
    except OSError as err:
        sys.stderr.write("%s: cannot run %s: %s\n" % (os.path.basename(argv[0]), exe, err))
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
