"""The command-line tool, used as a person would: typed at through a pseudo-terminal.

``connect`` runs against our own server in a thread of the test process
(an echo path, a path where the server closes, a path that is refused,
and a TLS server); ``serve`` is run as a command and talked to with the
``websockets`` library.  Failures that end the tool before any typing
(a wrong URL, a refused handshake, nobody listening) run without a
terminal, so that stdout and stderr can be told apart.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import start_blocking_portal
from wsproto.events import BytesMessage, Request, TextMessage

from asyncwebsockets import Reject, Websocket, serve
from asyncwebsockets.cli import StdinLines, build_parser, main, show_message

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["asyncio", "trio"]
#: Seconds one expected output may take to appear.
TIMEOUT = 10


def environment() -> dict[str, str]:
    """The tool's environment: this source tree, no inherited TLS trust settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "100"
    return env


def spawn(*args: str) -> Any:
    """The tool in a pseudo-terminal, as if typed at a shell prompt."""
    return pexpect.spawn(
        sys.executable,
        ["-m", "asyncwebsockets", *args],
        env=environment(),
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(24, 200),
    )


def run(*args: str, input: str = "") -> subprocess.CompletedProcess[str]:  # noqa: A002
    """The tool without a terminal, its stdin from ``input``."""
    return subprocess.run(
        [sys.executable, "-m", "asyncwebsockets", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=30,
        env=environment(),
        cwd=str(ROOT),
    )


def finished(child: Any) -> Any:
    """Wait for the tool to exit; returns it with ``exitstatus`` set and its output in ``before``."""
    child.expect(pexpect.EOF)
    child.close()
    return child


# -- a server to connect to ------------------------------------------------------


async def handler(ws: Websocket) -> None:
    """Echo, except on /server-closes, where the server says goodbye and closes with 4001."""
    assert ws.request is not None
    if ws.request.target == "/server-closes":
        await ws.send("closing now")
        await ws.close(4001, "go away")
        return
    async for event in ws:
        await ws.send(event.data)  # type: ignore[attr-defined]


async def only_allowed(request: Request) -> Any:
    if request.target == "/forbidden":
        return Reject(403, body="no entry")
    return True


@pytest.fixture(scope="module")
def tls_context() -> ssl.SSLContext:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def servers(tls_context: ssl.SSLContext) -> Iterator[dict[str, str]]:
    """Base URLs of a plain and a TLS server, both running in a thread."""
    with start_blocking_portal() as portal:
        plain_future, plain = portal.start_task(partial(serve, handler, "127.0.0.1", 0, only_allowed))
        tls_future, tls = portal.start_task(partial(serve, handler, "127.0.0.1", 0, ssl=tls_context))
        try:
            yield {"ws": f"ws://127.0.0.1:{plain.port}", "wss": f"wss://127.0.0.1:{tls.port}"}
        finally:
            plain_future.cancel()
            tls_future.cancel()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port nobody listens on (bound, so nothing else takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


# -- connect: the interactive client -----------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_type_ping_and_close(servers: dict[str, str], backend: str) -> None:
    child = spawn("connect", servers["ws"] + "/", "--backend", backend)
    child.expect("connected to ws://127.0.0.1:")
    child.sendline("hello there")
    child.expect("< hello there")
    child.sendline("/binary 00ff10")
    child.expect(re.escape("< [binary, 3 bytes] 00ff10"))
    child.sendline("//not a command")
    child.expect("< /not a command")
    child.sendline("/ping")
    child.expect(r"pong: round trip \d+\.\d\d ms")
    child.sendline("/close 99")
    child.expect("close code 99 may not be sent")
    child.sendline("still open")
    child.expect("< still open")
    child.sendline("/close 1000 bye")
    child.expect("connection closed: 1000 bye")
    finished(child)
    no_traceback(child.before)
    assert child.exitstatus == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_help_command(servers: dict[str, str], backend: str) -> None:
    child = spawn("connect", servers["ws"] + "/", "--backend", backend)
    child.expect("connected")
    child.sendline("/help")
    child.expect(r"/close \[code \[reason\]\]")
    child.sendline("/nonsense")
    child.expect("unknown command /nonsense")
    child.sendline("/quit")
    child.expect("connection closed: 1000")
    assert finished(child).exitstatus == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_d_closes_with_1000(servers: dict[str, str], backend: str) -> None:
    child = spawn("connect", servers["ws"] + "/", "--backend", backend)
    child.expect("connected")
    child.sendline("one")
    child.expect("< one")
    child.sendeof()
    child.expect("connection closed: 1000")
    finished(child)
    no_traceback(child.before)
    assert child.exitstatus == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_exits_cleanly(servers: dict[str, str], backend: str) -> None:
    child = spawn("connect", servers["ws"] + "/", "--backend", backend)
    child.expect("connected")
    child.sendline("half typed")
    child.expect("< half typed")
    child.send("not sent yet")
    child.sendintr()
    finished(child)
    no_traceback(child.before)
    assert "KeyboardInterrupt" not in child.before
    assert child.exitstatus == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_server_closes(servers: dict[str, str], backend: str) -> None:
    """The tool says how the server closed and exits, without waiting for more typing."""
    child = spawn("connect", servers["ws"] + "/server-closes", "--backend", backend)
    child.expect("< closing now")
    child.expect("connection closed: 4001 go away")
    finished(child)
    assert child.exitstatus == 1  # not a normal closure


def test_options_reach_the_server(tls_context: ssl.SSLContext) -> None:
    """Headers, subprotocols, origin and compression are sent as asked."""
    seen: list[Request] = []

    async def record(request: Request) -> Any:
        seen.append(request)
        return True

    with start_blocking_portal() as portal:
        future, server = portal.start_task(
            partial(serve, handler, "127.0.0.1", 0, record, subprotocols=["chat.v2"], compression="deflate")
        )
        try:
            child = spawn(
                "connect",
                f"ws://127.0.0.1:{server.port}/opts",
                "--header",
                "X-Token: abc 123",
                "-H",
                "X-Other:two",
                "--subprotocol",
                "chat.v1",
                "--subprotocol",
                "chat.v2",
                "--origin",
                "https://example.com",
                "--compression",
                "deflate",
            )
            child.expect(r"connected to \S+ \(subprotocol chat.v2, compression deflate\)")
            child.sendline("squeezed")
            child.expect("< squeezed")
            child.sendeof()
            assert finished(child).exitstatus == 0
        finally:
            future.cancel()
    headers = dict(seen[0].extra_headers)
    assert headers[b"x-token"] == b"abc 123"
    assert headers[b"x-other"] == b"two"
    assert headers[b"origin"] == b"https://example.com"
    assert seen[0].subprotocols == ["chat.v1", "chat.v2"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_piped_input(servers: dict[str, str], backend: str) -> None:
    """Without a terminal it works as a filter: lines in, messages out on stdout, status on stderr."""
    tool = subprocess.Popen(
        [sys.executable, "-m", "asyncwebsockets", "connect", servers["ws"] + "/", "--backend", backend],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
        cwd=str(ROOT),
    )
    try:
        assert tool.stdin is not None and tool.stdout is not None
        tool.stdin.write("first\nsecond\n")
        tool.stdin.flush()
        # The answers are awaited before the end of input: closing at once
        # could overtake them.
        assert tool.stdout.readline() == "< first\n"
        assert tool.stdout.readline() == "< second\n"
        _, err = tool.communicate(timeout=TIMEOUT)
    finally:
        tool.kill()
        tool.wait()
    assert tool.returncode == 0, err
    assert "connection closed: 1000" in err
    no_traceback(err)


@pytest.mark.parametrize("backend", BACKENDS)
def test_input_after_the_server_closed(servers: dict[str, str], backend: str) -> None:
    """Lines still arriving once the connection is over are dropped quietly."""
    result = run("connect", servers["ws"] + "/server-closes", "--backend", backend, input="more\n" * 100_000)
    no_traceback(result.stderr)
    assert "connection closed: 4001 go away" in result.stderr
    assert result.returncode == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_stdin_lines(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    """The reader thread splits and decodes lines, keeps a last one without a newline,
    and drops harmlessly those it reads after close()."""

    async def main() -> None:
        read_end, write_end = os.pipe()
        lines = StdinLines(read_end, "utf-8")
        os.write(write_end, "one\r\ntwo €\nthr".encode())
        os.write(write_end, b"ee\nfour")
        os.close(write_end)
        assert [line async for line in lines] == ["one", "two €", "three", "four"]
        await anyio.to_thread.run_sync(lines.thread.join, TIMEOUT)
        os.close(read_end)

        read_end, write_end = os.pipe()
        lines = StdinLines(read_end, "utf-8")
        os.write(write_end, b"one\n")
        assert await lines.__anext__() == "one"
        lines.close()
        os.write(write_end, b"two\nthree\n")
        os.close(write_end)
        await anyio.to_thread.run_sync(lines.thread.join, TIMEOUT)
        assert not lines.thread.is_alive()
        for _ in range(5):
            await anyio.sleep(0.01)  # its last deliveries run here, and go nowhere
        with pytest.raises(StopAsyncIteration):
            await lines.__anext__()
        os.close(read_end)

    anyio.run(main, backend=backend)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_how_messages_are_shown() -> None:
    assert show_message(TextMessage(data="tab\there\nnext line")) == "< tab\there\nnext line"
    # Terminal escape sequences from the server are shown, not obeyed.
    assert show_message(TextMessage(data="\x1b[2Jcleared\r\x9b")) == "< \\x1b[2Jcleared\\x0d\\x9b"
    assert show_message(BytesMessage(data=b"\x00\xff")) == "< [binary, 2 bytes] 00ff"
    big = show_message(BytesMessage(data=bytes(300)))
    assert big == "< [binary, 300 bytes] " + "00" * 256 + " ... (44 more bytes)"


# -- connect: failures, one line each -------------------------------------------------


def one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    no_traceback(result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("asyncwebsockets: "), lines
    assert expected in lines[0], lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize("backend", BACKENDS)
def test_refused_handshake(servers: dict[str, str], backend: str) -> None:
    result = run("connect", servers["ws"] + "/forbidden", "--backend", backend)
    one_line_error(result, "server refused the handshake: HTTP 403 Forbidden: no entry")
    assert result.returncode == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_unreachable_host(closed_port: int, backend: str) -> None:
    result = run("connect", f"ws://127.0.0.1:{closed_port}/", "--backend", backend)
    one_line_error(result, f"cannot connect to 127.0.0.1:{closed_port}")
    assert result.returncode == 1


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A listening socket whose connections are never answered."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.settimeout(TIMEOUT)
        yield sock


def test_open_timeout(silent_server: socket.socket) -> None:
    port = silent_server.getsockname()[1]
    result = run("connect", f"ws://127.0.0.1:{port}/", "--open-timeout", "0.5")
    one_line_error(result, "opening handshake timed out")
    assert result.returncode == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_while_connecting(silent_server: socket.socket, backend: str) -> None:
    """A server that never answers does not trap the person: Ctrl-C still exits at once."""
    port = silent_server.getsockname()[1]
    child = spawn("connect", f"ws://127.0.0.1:{port}/", "--backend", backend, "--open-timeout", "60")
    # Once it has connected, it is waiting for the handshake's answer.
    connection, _ = silent_server.accept()
    with connection:
        child.sendintr()
        child.expect(pexpect.EOF, timeout=5)
    child.close()
    no_traceback(child.before)
    assert child.exitstatus == 0


def test_invalid_uri() -> None:
    result = run("connect", "http://example.com/")
    one_line_error(result, "invalid URI: 'http://example.com/' is not a ws:// or wss:// URL")
    assert result.returncode == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_tls_failure_and_insecure(servers: dict[str, str], backend: str) -> None:
    """An unknown authority is a one-line TLS error; ``--insecure`` connects anyway."""
    url = servers["wss"] + "/"
    result = run("connect", url, "--backend", backend)
    port = url.rsplit(":", 1)[1].rstrip("/")
    one_line_error(result, f"TLS handshake with 127.0.0.1:{port} failed: ")
    assert "certificate" in result.stderr
    assert result.returncode == 1

    child = spawn("connect", url, "--insecure", "--backend", backend)
    child.expect("connected to wss://")
    child.sendline("over tls")
    child.expect("< over tls")
    child.sendeof()
    assert finished(child).exitstatus == 0


def test_bad_header_is_a_usage_error() -> None:
    result = run("connect", "ws://127.0.0.1:9/", "--header", "no colon")
    assert result.returncode == 2
    assert "expected 'Name: value'" in result.stderr
    no_traceback(result.stderr)


# -- serve: the echo server -------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_echoes_to_websockets(backend: str) -> None:
    from websockets.exceptions import ConnectionClosedOK
    from websockets.sync.client import connect

    child = spawn("serve", "--port", "0", "--backend", backend)
    child.expect(r"serving on ws://127\.0\.0\.1:(\d+)/")
    url = f"ws://127.0.0.1:{child.match.group(1)}/echo"
    with connect(url, open_timeout=TIMEOUT) as client:
        client.send("hello")
        assert client.recv(timeout=TIMEOUT) == "hello"
        client.send(b"\x00\x01")
        assert client.recv(timeout=TIMEOUT) == b"\x00\x01"
    child.expect(r"127\.0\.0\.1:\d+ connected to /echo")
    child.expect(r"127\.0\.0\.1:\d+ connection closed: 1000")

    # Ctrl-C stops the server, closing the connections still open with 1001.
    with connect(url, open_timeout=TIMEOUT) as client:
        child.expect("connected to /echo")
        child.sendintr()
        with pytest.raises(ConnectionClosedOK) as closed:
            client.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    child.expect(r"connection closed: 1001 server shutting down\s+server stopped")
    finished(child)
    no_traceback(child.before)
    assert child.exitstatus == 0


def test_serve_tls(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    from websockets.sync.client import connect

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    child = spawn("serve", "--port", "0", "--tls-cert", str(cert_file), "--tls-key", str(key_file))
    child.expect(r"serving on wss://127\.0\.0\.1:(\d+)/")
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with connect(f"wss://127.0.0.1:{child.match.group(1)}/", ssl=context, open_timeout=TIMEOUT) as client:
        client.send("secret")
        assert client.recv(timeout=TIMEOUT) == "secret"
    child.sendintr()
    assert finished(child).exitstatus == 0


def test_serve_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run("serve", "--port", str(port))
    one_line_error(result, f"cannot listen on 127.0.0.1:{port}")
    assert result.returncode == 1


# -- the sessions shown in the how-to ----------------------------------------------------------


def howto_sessions() -> list[list[str]]:
    """The shell sessions of docs/howto.rst's "Trying a server from the shell", line by line."""
    text = (ROOT / "docs" / "howto.rst").read_text()
    section = text.split("\nTrying a server from the shell\n", 1)[1].split("\n.. _", 1)[0]
    blocks = re.findall(r"\.\. code-block:: console\n\n((?:   .*\n|\n)+)", section)
    return [[line[3:] for line in block.strip("\n").splitlines()] for block in blocks]


def shown(line: str) -> str:
    """A pattern for a line of shown output: numbers (ports, times) may differ."""
    return re.sub(r"\d+", r"\\d+", re.escape(line))


def test_howto_client_session(servers: dict[str, str]) -> None:
    """The client session in the how-to, typed again: the tool answers as shown."""
    session = howto_sessions()[0]
    assert session[0] == "$ python -m asyncwebsockets connect ws://127.0.0.1:8765/"
    child = spawn("connect", servers["ws"] + "/")
    for line in session[1:]:
        if line.startswith(("connected to ", "< ", "pong: ", "connection closed: ")):
            child.expect(shown(line.replace("ws://127.0.0.1:8765/", "ws://127.0.0.1:0/")))
        else:
            child.sendline(line)
    assert finished(child).exitstatus == 0


def test_howto_server_session() -> None:
    """The server session in the how-to, with a client that closes with 1000 'bye'."""
    from websockets.sync.client import connect

    session = howto_sessions()[1]
    assert session[0] == "$ python -m asyncwebsockets serve"
    child = spawn("serve", "--port", "0")
    child.expect(shown(session[1]))
    port = re.search(r":(\d+)/", child.after).group(1)  # type: ignore[union-attr]
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=TIMEOUT) as client:
        client.close(1000, "bye")
    child.expect(shown(session[2]))
    child.expect(shown(session[3]))
    assert session[4].startswith("^C")
    child.sendintr()
    child.expect(shown(session[4][2:]))
    assert finished(child).exitstatus == 0


def test_howto_errors(servers: dict[str, str], closed_port: int) -> None:
    """The failures shown in the how-to, but the web server's (which test_refused_handshake covers)."""
    session = iter(howto_sessions()[2])
    checked = 0
    for command, error in zip(session, session, strict=True):
        url = command.split()[-1]
        if url.startswith("ws://127.0.0.1:9/"):
            url = f"ws://127.0.0.1:{closed_port}/"
        elif url.startswith("wss://"):
            url = servers["wss"] + "/"
        elif not url.startswith("http://"):
            continue
        result = run("connect", url)
        assert re.fullmatch(shown(error), result.stderr.strip()), (error, result.stderr)
        checked += 1
    assert checked == 3


# -- the command line itself -----------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["connect"], ["serve"]])
def test_help(args: list[str]) -> None:
    result = run(*args, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m asyncwebsockets")
    if args == ["connect"]:
        for option in (
            "--header",
            "--subprotocol",
            "--origin",
            "--insecure",
            "--compression",
            "--backend",
            "--open-timeout",
        ):
            assert option in result.stdout
        assert "/ping" in result.stdout
    if args == ["serve"]:
        for option in ("--host", "--port", "--tls-cert", "--tls-key", "--backend"):
            assert option in result.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from asyncwebsockets import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"asyncwebsockets {__version__} (")


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_console_script_is_declared() -> None:
    """``pip install`` makes an ``asyncwebsockets`` command that runs :func:`main`."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    scripts = pyproject.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    assert 'asyncwebsockets = "asyncwebsockets.cli:main"' in scripts
    assert build_parser().prog == "asyncwebsockets"
