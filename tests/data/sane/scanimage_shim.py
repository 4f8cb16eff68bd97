"""Test helper standing in for ``scanimage``: runs the real one, adding what SANE's test
backend cannot do by itself (see README.txt). Configured through environment variables:

SHIM_REAL      path of the real scanimage
SHIM_ALIASES   JSON {"alias source": "real source"}: the aliases are added to the
               ``--source`` choices that ``-A`` prints and mapped back when scanning
SHIM_SEGMENTS  JSON [[count or null, [extra args]], ...]: a batch scan becomes one real
               scanimage run per segment, numbering pages on from the previous segment;
               the first failing run's exit status ends the batch
"""

import json
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    real = os.environ["SHIM_REAL"]
    aliases = json.loads(os.environ.get("SHIM_ALIASES", "{}"))
    segments = json.loads(os.environ.get("SHIM_SEGMENTS", "null"))
    if "-A" in argv:
        done = subprocess.run([real, *argv], capture_output=True, text=True)
        out = done.stdout
        for alias in aliases:
            out = out.replace(
                "--source Flatbed|Automatic Document Feeder ",
                f"--source Flatbed|Automatic Document Feeder|{alias} ",
                1,
            )
        sys.stdout.write(out)
        sys.stderr.write(done.stderr)
        return done.returncode
    args = list(argv)
    for i, arg in enumerate(args[:-1]):
        if arg == "--source" and args[i + 1] in aliases:
            args[i + 1] = aliases[args[i + 1]]
    if not segments or not any(a.startswith("--batch=") for a in args):
        return subprocess.call([real, *args])
    start = 1
    for count, extra in segments:
        run = [real, *args, *extra, f"--batch-start={start}"]
        if count is not None:
            run.append(f"--batch-count={count}")
        rc = subprocess.call(run)
        if rc != 0:
            return rc
        start += count or 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
