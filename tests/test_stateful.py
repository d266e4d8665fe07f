"""Random conversations between two sans-I/O connections, checked against invariants.

Two worlds run the same steps side by side: one with the compiled codec,
one with the pure-Python codec (skipped where nothing is compiled).
Bytes move in random chunk sizes, garbage is sometimes injected, either side
may ping or close at any time. After every step: both worlds saw the same
events and states, nothing raised but our documented exceptions, and no
close code that may not be sent ever went on the wire.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from asyncwebsockets import _speedups
from asyncwebsockets.connection import Connection, ConnectionState, ConnectionType
from asyncwebsockets.exceptions import ConnectionClosed

IMPLEMENTATIONS = [_speedups.COMPILED or _speedups.PURE, _speedups.PURE]
FORBIDDEN_ON_WIRE = {1005, 1006, 1015}


class World:
    """A client and a server connection and the bytes in flight between them."""

    def __init__(self, modules: dict[str, Any], max_size: int) -> None:
        self.wire = {"to_server": bytearray(), "to_client": bytearray()}
        self.log: list[tuple[str, str, Any]] = []
        # The codec is chosen when a connection opens: keep ours active
        # through the handshake.
        _speedups.use(modules)
        try:
            self.client = Connection(ConnectionType.CLIENT, max_message_size=max_size)
            self.server = Connection(ConnectionType.SERVER, max_message_size=max_size)
            self.wire["to_server"] += self.client.initiate("example.com", "/")
            self.deliver("to_server", 1 << 20)
            self.wire["to_client"] += self.server.accept()
            self.deliver("to_client", 1 << 20)
        finally:
            _speedups.use(_speedups.COMPILED or _speedups.PURE)
        assert type(self.server._reader).__module__ == modules["frames"].__name__

    def side(self, name: str) -> Connection:
        return self.client if name == "client" else self.server

    def act(self, name: str, action: str, *args: Any) -> None:
        conn = self.side(name)
        direction = "to_server" if name == "client" else "to_client"
        try:
            data = getattr(conn, action)(*args)
        except ConnectionClosed as exc:
            self.log.append((name, "closed", exc.code))
            return
        except (ValueError, TypeError, RuntimeError) as exc:
            self.log.append((name, "refused", type(exc).__name__))
            return
        self.wire[direction] += data

    def deliver(self, direction: str, size: int) -> None:
        buffer = self.wire[direction]
        chunk = bytes(buffer[:size])
        del buffer[:size]
        receiver = self.server if direction == "to_server" else self.client
        sender_direction = "to_client" if direction == "to_server" else "to_server"
        for event in receiver.receive_data(chunk):
            summary = getattr(event, "data", None)
            if summary is None:
                summary = (
                    getattr(event, "payload", None),
                    getattr(event, "code", None),
                    getattr(event, "reason", None),
                )
            self.log.append((direction, type(event).__name__, summary))
        self.wire[sender_direction] += receiver.data_to_send()

    def state(self) -> tuple[Any, ...]:
        return (
            self.client.state,
            self.server.state,
            self.client.close_code if self.client.closed else None,
            self.server.close_code if self.server.closed else None,
            len(self.wire["to_server"]),
            len(self.wire["to_client"]),
        )


messages = st.one_of(st.text(max_size=300), st.binary(max_size=300))


class Conversation(RuleBasedStateMachine):
    worlds: list[World]

    @initialize(max_size=st.sampled_from([64, 1000, 1 << 20]))
    def start(self, max_size: int) -> None:
        self.worlds = [World(modules, max_size) for modules in IMPLEMENTATIONS]

    def each(self, method: str, *args: Any) -> None:
        for world in self.worlds:
            getattr(world, method)(*args)

    @rule(side=st.sampled_from(["client", "server"]), message=messages, final=st.booleans())
    def send(self, side: str, message: Any, final: bool) -> None:
        self.each("act", side, "send_message", message, final)

    @rule(side=st.sampled_from(["client", "server"]), payload=st.binary(max_size=130))
    def ping(self, side: str, payload: bytes) -> None:
        self.each("act", side, "send_ping", payload)

    @rule(
        side=st.sampled_from(["client", "server"]),
        code=st.one_of(st.none(), st.sampled_from([1000, 1001, 1005, 1006, 1011, 1015, 3000, 4999, 999])),
        reason=st.text(max_size=40),
    )
    def close(self, side: str, code: int | None, reason: str) -> None:
        self.each("act", side, "send_close", code, reason if code is not None else "")

    @rule(direction=st.sampled_from(["to_server", "to_client"]), size=st.integers(1, 400))
    def deliver(self, direction: str, size: int) -> None:
        self.each("deliver", direction, size)

    @rule(direction=st.sampled_from(["to_server", "to_client"]), garbage=st.binary(min_size=1, max_size=20))
    def inject(self, direction: str, garbage: bytes) -> None:
        for world in self.worlds:
            world.wire[direction] += garbage

    @precondition(lambda self: not self.worlds[0].client.closed)
    @rule(side=st.sampled_from(["client", "server"]))
    def transport_ends(self, side: str) -> None:
        for world in self.worlds:
            world.side(side).receive_eof()
            assert world.side(side).closed

    @invariant()
    def worlds_agree(self) -> None:
        if not hasattr(self, "worlds"):
            return
        first, second = self.worlds
        assert first.log == second.log
        assert first.state() == second.state()

    @invariant()
    def nothing_forbidden_on_the_wire(self) -> None:
        if not hasattr(self, "worlds"):
            return
        for world in self.worlds:
            for conn in (world.client, world.server):
                if conn.local_close is not None and conn.local_close.code != 1005:
                    assert conn.local_close.code not in FORBIDDEN_ON_WIRE
                if conn.closed:
                    assert conn.state is ConnectionState.CLOSED


Conversation.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_conversation = pytest.mark.skipif(
    _speedups.COMPILED is None, reason="no compiled codec to compare the pure-Python one with"
)(Conversation.TestCase)
