"""Run the Autobahn|Testsuite against our server or client and summarise it.

    python compliance/run.py --mode server --backend asyncio --impl compiled
    python compliance/run.py --mode client --backend trio --impl python --quick
    python compliance/run.py --all --quick --markdown results.md

``wstest`` (PyPI ``autobahntestsuite``) needs Python 2.7: its virtualenv is
made on first use in ``compliance/.venv27`` from ``requirements-py27.txt``,
with the interpreter given by ``--python27`` (default: pyenv's 2.7.18, else
``python2.7`` on PATH). Reports go to ``compliance/reports/``. The exit
status is non-zero when any case FAILED.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv27"
REPORTS = HERE / "reports"
VERDICTS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
QUICK_CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]


def default_python27() -> str:
    pyenv = Path("/root/.pyenv/versions/2.7.18/bin/python")
    if pyenv.exists():
        return str(pyenv)
    found = shutil.which("python2.7") or shutil.which("python2")
    if not found:
        sys.exit("no Python 2.7 found: pass --python27 PATH")
    return found


def ensure_wstest(python27: str) -> Path:
    wstest = VENV / "bin" / "wstest"
    if wstest.exists():
        return wstest
    print(f"creating {VENV} with {python27} ...", flush=True)
    subprocess.run([python27, "-m", "pip", "install", "-q", "virtualenv<20.22"], check=True)
    subprocess.run([python27, "-m", "virtualenv", "-q", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "-r", str(HERE / "requirements-py27.txt")], check=True)
    return wstest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def testee_env(impl: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ASYNCWEBSOCKETS_NO_EXTENSIONS", None)
    if impl == "python":
        env["ASYNCWEBSOCKETS_NO_EXTENSIONS"] = "1"
    return env


def run_combination(
    mode: str, backend: str, impl: str, cases: list[str], exclude: list[str], wstest: Path, timeout: float
) -> Path:
    agent = f"asyncwebsockets-{mode}-{backend}-{impl}"
    outdir = REPORTS / agent
    shutil.rmtree(outdir, ignore_errors=True)
    specs = HERE / "specs"
    specs.mkdir(exist_ok=True)
    port = free_port()
    spec_file = specs / f"{agent}.json"
    procs: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    try:
        if mode == "server":
            testee = subprocess.Popen(
                [sys.executable, str(HERE / "testee_server.py"), "--backend", backend, "--port", str(port)],
                env=testee_env(impl),
            )
            procs.append(testee)
            wait_for_port(port, testee)
            spec = {
                "outdir": str(outdir),
                "servers": [{"agent": agent, "url": f"ws://127.0.0.1:{port}"}],
                "cases": cases,
                "exclude-cases": exclude,
                "exclude-agent-cases": {},
            }
            spec_file.write_text(json.dumps(spec, indent=2))
            subprocess.run(
                [str(wstest), "-m", "fuzzingclient", "-s", str(spec_file)], check=True, timeout=timeout, cwd=HERE
            )
        else:
            spec = {
                "url": f"ws://127.0.0.1:{port}",
                "outdir": str(outdir),
                "cases": cases,
                "exclude-cases": exclude,
                "exclude-agent-cases": {},
            }
            spec_file.write_text(json.dumps(spec, indent=2))
            # --webport 0: no embedded web server, whose fixed port 8080 would
            # collide with another run (or anything else) on this machine.
            fuzzer = subprocess.Popen(
                [str(wstest), "-m", "fuzzingserver", "-s", str(spec_file), "--webport", "0"], cwd=HERE
            )
            procs.append(fuzzer)
            wait_for_port(port, fuzzer)
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "testee_client.py"),
                    "--backend",
                    backend,
                    "--url",
                    f"ws://127.0.0.1:{port}",
                    "--agent",
                    agent,
                ],
                env=testee_env(impl),
                check=True,
                timeout=timeout,
            )
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    print(f"{agent}: {time.monotonic() - started:.0f} s", flush=True)
    return outdir / "index.json"


def summarise(index: Path) -> tuple[str, dict[str, Counter[str]], list[tuple[str, str, str]]]:
    data = json.loads(index.read_text())
    ((agent, results),) = data.items()
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    notable: list[tuple[str, str, str]] = []
    for case_id, result in results.items():
        verdict = result["behavior"]
        if result.get("behaviorClose") == "FAILED" or verdict == "WRONG CODE":
            verdict = "FAILED"
        sections[case_id.split(".")[0]][verdict] += 1
        if verdict in ("FAILED", "NON-STRICT"):
            notable.append((case_id, verdict, result.get("behaviorClose", "")))
    return agent, sections, sorted(notable, key=lambda row: [int(p) for p in row[0].split(".")])


def table(agent: str, sections: dict[str, Counter[str]]) -> str:
    lines = [f"#### {agent}", "", "| section | " + " | ".join(VERDICTS) + " |", "|---" * (len(VERDICTS) + 1) + "|"]
    for section in sorted(sections, key=int):
        counts = sections[section]
        lines.append(f"| {section} | " + " | ".join(str(counts.get(v, 0)) for v in VERDICTS) + " |")
    total = Counter()
    for counts in sections.values():
        total.update(counts)
    lines.append("| all | " + " | ".join(str(total.get(v, 0)) for v in VERDICTS) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["server", "client"], default="server")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--impl", choices=["compiled", "python"], default="compiled")
    parser.add_argument("--all", action="store_true", help="all 8 combinations")
    parser.add_argument("--quick", action="store_true", help="sections 1-7 and 10 only")
    parser.add_argument("--cases", help="comma-separated case patterns, e.g. '1.*,9.1.*'")
    parser.add_argument("--exclude", default="", help="comma-separated case patterns to skip")
    parser.add_argument("--python27", default=None)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per combination")
    parser.add_argument("--markdown", help="write the tables here")
    args = parser.parse_args()

    wstest = ensure_wstest(args.python27 or default_python27())
    cases = args.cases.split(",") if args.cases else (QUICK_CASES if args.quick else ["*"])
    exclude = [c for c in args.exclude.split(",") if c]
    combos = (
        [(m, b, i) for m in ("server", "client") for b in ("asyncio", "trio") for i in ("compiled", "python")]
        if args.all
        else [(args.mode, args.backend, args.impl)]
    )
    failed = 0
    out: list[str] = []
    for mode, backend, impl in combos:
        index = run_combination(mode, backend, impl, cases, exclude, wstest, args.timeout)
        agent, sections, notable = summarise(index)
        text = table(agent, sections)
        if notable:
            text += "\n\n" + "\n".join(f"- {case}: {verdict} {close}".rstrip() for case, verdict, close in notable)
        print(text + "\n", flush=True)
        out.append(text)
        failed += sum(1 for _, verdict, _ in notable if verdict == "FAILED")
    if args.markdown:
        Path(args.markdown).write_text("\n\n".join(out) + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
