"""The WebSocket connection state machine, without any I/O.

A :class:`Connection` is driven by its owner: bytes from the network go into
:meth:`Connection.receive_data`, which returns wsproto events; what we want
to send goes through the ``send_*`` methods, which return the bytes to
write.  Replies the protocol requires of us (a pong for each ping, the close
frame answering the peer's) are queued and collected with
:meth:`Connection.data_to_send`.

The opening handshake is wsproto's h11-based machinery; once it succeeds the
frames are handled by our own codec (see :mod:`asyncwebsockets._speedups`).
"""

from __future__ import annotations

from collections.abc import Sequence

from wsproto import ConnectionType
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import Extension
from wsproto.handshake import H11Handshake
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from . import _speedups
from ._frame_writer_py import FrameParts
from ._frames_py import FrameReader
from .deflate import MessageDeflater, MessageInflater, codecs_for
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    HandshakeRejected,
    ProtocolError,
)
from .http import (
    DONE,
    REQUEST_LINE_LIMIT,
    DeflateOffer,
    HandshakeDone,
    Headers,
    header_list,
    http_response,
    request_line_problem,
    request_problem,
)
from .permessage_deflate import NegotiationError, PerMessageDeflate, accept_offers, parse_response
from .protocol import (
    CLOSE_ABNORMAL_CLOSURE,
    CLOSE_GOING_AWAY,
    CLOSE_NO_STATUS_RCVD,
    CLOSE_NORMAL_CLOSURE,
    OP_BINARY,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RSV1,
    is_valid_close_code,
)

__all__ = ["Connection", "ConnectionState", "ConnectionType", "Headers"]


#: A rejected handshake's body is kept for the exception, up to this size.
MAX_REJECT_BODY = 64 * 1024


class Connection:
    """One side of a WebSocket connection, from handshake to close.

    ``max_message_size`` bounds what one incoming message may make us
    buffer (``None`` for no limit); ``reassemble=False`` delivers data frame
    by frame instead of whole messages.
    """

    def __init__(
        self,
        connection_type: ConnectionType,
        *,
        max_message_size: int | None = 1 << 20,
        reassemble: bool = True,
        compression: PerMessageDeflate | None = None,
    ) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self.state = ConnectionState.CONNECTING
        self._handshake: H11Handshake | HandshakeDone = H11Handshake(connection_type)
        self._max_message_size = max_message_size
        self._reassemble = reassemble
        self._reader: FrameReader | None = None
        self._writer = _speedups.FrameWriter(mask=self.client)
        self._outgoing = bytearray()
        #: The client's request (sent by a client, received by a server).
        self.request: Request | None = None
        #: The subprotocol both sides agreed on, if any.
        self.subprotocol: str | None = None
        #: Headers of the server's 101 response (as seen by the client) or
        #: the extra headers a server sent with it.
        self.response_headers: list[tuple[bytes, bytes]] = []
        self._reject: RejectConnection | None = None
        self._reject_body = bytearray()
        # The message we are sending in fragments: its opcode, or None.
        self._sending: int | None = None
        self.local_close: CloseConnection | None = None
        self.remote_close: CloseConnection | None = None
        #: Why we failed the connection (1002, 1007, 1009, 1011...), if we did.
        self.failure: CloseConnection | None = None
        self._eof = False
        # Frames a client pipelined behind its request, parsed after accept().
        self._pending_input = b""
        #: Whether the last receive_data returned anything but data messages,
        #: so a caller that only queues messages can skip looking at each.
        self.last_had_control = False
        #: A violation found behind events not yet handed out (see
        #: :meth:`receive_data`); a plain attribute for the hot path.
        self.pending_failure: ProtocolError | None = None
        # A server's received request up to its first line (None once checked).
        self._request_head: bytes | None = b""
        # permessage-deflate: what we offer or accept, then what was agreed.
        self._compression_settings = compression
        self._deflate_offer: DeflateOffer | None = None
        #: The permessage-deflate parameters agreed on, or None (uncompressed).
        self.compression: PerMessageDeflate | None = None
        self._deflater: MessageDeflater | None = None
        self._inflater: MessageInflater | None = None

    # -- the opening handshake ---------------------------------------------

    def initiate(
        self,
        host: str,
        target: str,
        *,
        subprotocols: Sequence[str] = (),
        extra_headers: Headers | None = None,
    ) -> bytes:
        """Client: the HTTP upgrade request to send."""
        if not self.client:
            raise RuntimeError("only a client initiates the handshake")
        extensions: list[Extension] = []
        if self._compression_settings is not None:
            self._deflate_offer = DeflateOffer(self._compression_settings)
            extensions.append(self._deflate_offer)
        self.request = Request(
            host=host,
            target=target,
            subprotocols=list(subprotocols),
            extensions=extensions,
            extra_headers=header_list(extra_headers),
        )
        return self._handshake.send(self.request)

    def accept(self, subprotocol: str | None = None, extra_headers: Headers | None = None) -> bytes:
        """Server: accept the received request; returns the 101 response."""
        if self.client or self.state is not ConnectionState.CONNECTING or self.request is None:
            raise RuntimeError("accept() needs a received, unanswered request")
        headers = header_list(extra_headers)
        agreed = None
        if self._compression_settings is not None:
            accepted = accept_offers(
                [offer for offer in self.request.extensions if isinstance(offer, str)], self._compression_settings
            )
            if accepted is not None:
                response, agreed = accepted
                headers.append((b"Sec-WebSocket-Extensions", response.encode("ascii")))
        try:
            data = self._handshake.send(AcceptConnection(subprotocol=subprotocol, extra_headers=headers))
        except LocalProtocolError as exc:
            raise ValueError(str(exc)) from None
        self._agree(agreed)
        self.subprotocol = subprotocol
        self.response_headers = headers
        # Frames the client sent right behind its request wait in h11.
        trailing = self._open()
        if trailing:
            self._pending_input = trailing
        return data

    def reject(
        self,
        status_code: int = 403,
        headers: Headers | None = None,
        body: bytes | str = b"",
    ) -> bytes:
        """Server: refuse the request with an HTTP response."""
        if self.client or self.state is not ConnectionState.CONNECTING:
            raise RuntimeError("reject() needs an unanswered request")
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not 300 <= status_code <= 599:
            # 3xx redirects the client (RFC 6455 section 4.1), 4xx and 5xx refuse.
            raise ValueError(f"a rejection needs a 3xx, 4xx or 5xx status, not {status_code}")
        response_headers = header_list(headers)
        response_headers.append((b"content-length", b"%d" % len(body)))
        data = self._handshake.send(RejectConnection(status_code=status_code, headers=response_headers, has_body=True))
        data += self._handshake.send(RejectData(data=body, body_finished=True))
        self.state = ConnectionState.CLOSED
        return data

    def _agree(self, agreed: PerMessageDeflate | None) -> None:
        """Take the compression the handshake agreed on (None: none)."""
        self.compression = agreed
        if agreed is not None:
            self._deflater, self._inflater = codecs_for(agreed, self.client)

    def _client_compression(self) -> PerMessageDeflate | None:
        """What the server's response agreed to; HandshakeError if it accepted what we never offered."""
        offer = self._deflate_offer
        if offer is None or not offer.responses:
            return None
        if len(offer.responses) > 1:
            raise NegotiationError("permessage-deflate accepted more than once")
        return parse_response(offer.responses[0], offer.settings)

    def _open(self) -> bytes:
        """Switch from HTTP to frames; returns the bytes h11 read past the handshake."""
        self.state = ConnectionState.OPEN
        self._reader = _speedups.FrameReader(
            expect_masked=not self.client,
            max_message_size=self._max_message_size,
            reassemble=self._reassemble,
            inflater=self._inflater,
        )
        assert isinstance(self._handshake, H11Handshake)
        trailing = bytes(self._handshake._h11_connection.trailing_data[0])
        # The handshake machinery has done its job; an idle connection
        # should not keep h11's buffers alive.
        self._handshake = DONE
        return trailing

    def _receive_handshake(self, data: bytes) -> list[Event]:
        if not self.client and self._request_head is not None:
            self._check_request_line(data)
        try:
            self._handshake.receive_data(data)
            events = list(self._handshake.events())
        except RemoteProtocolError as exc:
            self.state = ConnectionState.CLOSED
            if self.client:
                raise HandshakeError(f"invalid handshake response: {exc}") from None
            hint = exc.event_hint
            status = hint.status_code if isinstance(hint, RejectConnection) else 400
            extra = list(hint.headers) if isinstance(hint, RejectConnection) else []
            if str(exc).startswith(("Missing header, 'Upgrade", "Missing header, 'Connection")):
                # Plain HTTP where a WebSocket upgrade was expected: say so
                # the way RFC 9110 section 15.5.22 asks.
                status = 426
                extra += [(b"Upgrade", b"websocket"), (b"Sec-WebSocket-Version", b"13")]
            self._refuse(status, str(exc), extra)
        except UnicodeError:
            # wsproto decodes some headers (extensions, subprotocols, the
            # host) and lets a decoding error escape.
            self.state = ConnectionState.CLOSED
            if self.client:
                raise HandshakeError("invalid handshake response: a header is not ASCII") from None
            self._refuse(400, "a WebSocket header is not ASCII")
        out: list[Event] = []
        for event in events:
            if isinstance(event, Request):
                problem = request_problem(event)
                if problem:
                    self._refuse(400, problem)
                self.request = event
                out.append(event)
            elif isinstance(event, AcceptConnection):
                try:
                    self._agree(self._client_compression())
                except NegotiationError as exc:
                    self.state = ConnectionState.CLOSED
                    raise HandshakeError(f"invalid handshake response: {exc}") from None
                self.subprotocol = event.subprotocol
                self.response_headers = list(event.extra_headers)
                trailing = self._open()
                out.append(event)
                if trailing:
                    out.extend(self.receive_data(trailing))
            elif isinstance(event, RejectConnection):
                self._reject = event
                if not event.has_body:
                    self._rejected()
            elif isinstance(event, RejectData):
                if len(self._reject_body) < MAX_REJECT_BODY:
                    self._reject_body += event.data[: MAX_REJECT_BODY - len(self._reject_body)]
                if event.body_finished:
                    self._rejected()
        return out

    def _check_request_line(self, data: bytes) -> None:
        """Refuse a request by its first line, once that has arrived."""
        assert self._request_head is not None
        head = self._request_head + data
        end = head.find(b"\r\n")
        if end < 0 and len(head) < REQUEST_LINE_LIMIT:
            self._request_head = head
            return
        self._request_head = None
        problem = request_line_problem(head[:end] if end >= 0 else head)
        if problem is not None:
            self._refuse(*problem, head=head.startswith(b"HEAD "))

    def _refuse(
        self, status: int, problem: str, headers: Sequence[tuple[bytes, bytes]] = (), head: bool = False
    ) -> None:
        """Answer a bad request (a ``HEAD`` one if ``head``) with an HTTP error and give up on the connection."""
        self.state = ConnectionState.CLOSED
        self._outgoing += http_response(status, headers, problem.encode() + b"\n", head)
        raise HandshakeError(f"invalid handshake request: {problem}", status) from None

    def _rejected(self) -> None:
        assert self._reject is not None
        self.state = ConnectionState.CLOSED
        raise HandshakeRejected(
            self._reject.status_code,
            [(bytes(n), bytes(v)) for n, v in self._reject.headers],
            bytes(self._reject_body),
            self._reject,
        )

    # -- receiving ------------------------------------------------------------

    def receive_data(self, data: bytes | memoryview) -> list[Event]:
        """Process bytes from the peer; return the events they complete.

        During the handshake this raises :class:`HandshakeError` (a server
        should then send :meth:`data_to_send`, an HTTP 4xx, and close) or
        :class:`HandshakeRejected` (a client whose request was refused).
        Afterwards it never raises for anything the peer does: a protocol
        violation fails the connection (a close frame with 1002, 1007 or 1009
        is queued and :attr:`failure` is set) and the events before it are
        still returned.

        When a violation follows events in the same data, those events are
        returned first and the failure waits for the next call
        (:attr:`failure_pending`; ``receive_data(b"")`` applies it): the
        application gets to act on, and answer, what the peer sent before
        the violation, as RFC 6455 section 7.1.7 lets it.
        """
        self.last_had_control = False
        pending = self.pending_failure
        if pending is not None:
            self.pending_failure = None
            self.fail(pending.code, pending.reason)
            return []
        reader = self._reader
        if reader is None:
            if self.state is ConnectionState.CONNECTING:
                return self._receive_handshake(bytes(data))
            # Failed, or never opened: nothing more is read.
            return []
        if self._pending_input:
            data = self._pending_input + data
            self._pending_input = b""
        try:
            events = reader.feed(data)
        except ProtocolError as exc:
            events = exc.events
            if events:
                self.pending_failure = exc
            else:
                self.fail(exc.code, exc.reason)
        control = False
        for event in events:
            cls = type(event)
            if cls is not TextMessage and cls is not BytesMessage:
                self._control_event(event)
                control = True
        self.last_had_control = control
        return events

    def _control_event(self, event: Event) -> None:
        """React to a ping or a close; data messages never come here."""
        if type(event) is Ping:
            # Only an open connection answers: after our close frame
            # nothing but the close reply may follow it.
            if self.state is ConnectionState.OPEN:
                self._outgoing += self._writer.frame(OP_PONG, event.payload)
        elif type(event) is CloseConnection:
            self.remote_close = event
            if self.state is ConnectionState.OPEN:
                # Answer with the same code (RFC 6455 section 5.5.1) and, as
                # other libraries do, the same reason (the reader has checked
                # it); a close that carried no code is answered with none.
                code = None if event.code == CLOSE_NO_STATUS_RCVD else event.code
                reason = (event.reason or "") if code is not None else ""
                self._outgoing += self._writer.close(code, reason)
                self.local_close = CloseConnection(event.code, reason)
            self.state = ConnectionState.CLOSED

    # -- one message frame by frame ---------------------------------------------

    def receive_buffer(self) -> memoryview | None:
        """Where a transport may read the next bytes to (None: into its own buffer).

        The rest of a large frame's payload, when the reader offers it;
        what is read there must be passed to :meth:`receive_data` as a
        slice of the same view, before anything else is.
        """
        reader = self._reader
        if reader is None or self._pending_input or self.pending_failure is not None:
            return None
        return reader.receive_buffer()

    @property
    def reassembles(self) -> bool:
        """Whether messages are reassembled (the ``reassemble`` option)."""
        return self._reassemble

    @property
    def receiving(self) -> bool:
        """Whether frames are still parsed (the connection is not closed or failed)."""
        reader = self._reader
        return reader is not None and not reader.finished and self.pending_failure is None

    @property
    def streaming_message(self) -> bool:
        """Whether the reader delivers a message as fragments (see :meth:`stream_message`)."""
        reader = self._reader
        return reader is not None and reader.streaming

    def stream_message(self) -> Event | None:
        """Deliver the message in progress, or the next, as ``Fragment`` events.

        Returns what of it was already received, as its first fragment, or
        None.  Only while :attr:`receiving`, on a reassembling connection.
        """
        assert self._reader is not None
        return self._reader.stream_message()

    def cancel_stream(self) -> bool:
        """Take back :meth:`stream_message` if nothing of that message has come; whether it was."""
        reader = self._reader
        return reader is not None and reader.cancel_stream()

    @property
    def failure_pending(self) -> bool:
        """Whether the next :meth:`receive_data` call fails the connection."""
        return self.pending_failure is not None

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection (RFC 6455 section 7.1.7): tell the peer why, stop reading.

        Used for the peer's protocol violations and for local verdicts such
        as a keepalive timeout (1011).  The close frame, if the connection
        was open, is queued in :meth:`data_to_send`.
        """
        reason = reason.encode("utf-8")[:123].decode("utf-8", "ignore")
        self.failure = CloseConnection(code, reason)
        if self.state is ConnectionState.OPEN:
            self._outgoing += self._writer.close(code, reason)
            self.local_close = CloseConnection(code, reason)
        self.state = ConnectionState.CLOSED
        self._reader = None
        self._pending_input = b""

    def receive_eof(self) -> None:
        """The peer closed its side of the transport (or we gave up on it)."""
        self._eof = True
        # Nothing after this is parsed: bytes read while the transport
        # winds down must not turn into messages.
        self._reader = None
        self._pending_input = b""
        if self.state is ConnectionState.CONNECTING and self._reject is not None:
            # An HTTP error response delimited by the connection's end.
            self._rejected()
        self.state = ConnectionState.CLOSED

    # -- sending ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self.state is not ConnectionState.OPEN:
            if self.state is ConnectionState.CONNECTING:
                raise RuntimeError("the handshake is not finished")
            raise self.closed_exception()

    def send_message(self, data: str | bytes | bytearray | memoryview, final: bool = True) -> FrameParts:
        """A text (``str``) or binary message; ``final=False`` sends a fragment.

        The fragments of one message must all be ``str`` or all bytes.  A
        large one comes as its header and payload (see ``frame_parts``).
        """
        if self.state is not ConnectionState.OPEN:
            self._check_open()
        if isinstance(data, str):
            payload: bytes | bytearray | memoryview = data.encode("utf-8")
            opcode = OP_TEXT
        elif isinstance(data, (bytes, bytearray, memoryview)):
            payload = data
            opcode = OP_BINARY
        else:
            raise TypeError(f"a message is str or bytes, not {type(data).__name__}")
        sending = self._sending
        if sending is not None:
            if sending != opcode:
                raise TypeError("all fragments of a message must be of the same type")
            opcode = OP_CONTINUATION
        elif final and self._deflater is not None:
            # Whole messages are compressed; a message sent in fragments
            # goes uncompressed, which RFC 7692 leaves to the sender.
            return self._writer.frame_parts(opcode, self._deflater.compress(payload), True, RSV1)
        self._sending = None if final else (opcode or sending)
        return self._writer.frame_parts(opcode, payload, final)

    def send_ping(self, payload: bytes = b"") -> bytes:
        """A ping; the peer answers with a pong carrying the same payload."""
        self._check_open()
        if len(payload) > 125:
            raise ValueError("a ping payload is at most 125 bytes")
        return self._writer.frame(OP_PING, payload)

    def queue_ping(self, payload: bytes) -> None:
        """A ping to go out with :meth:`data_to_send` (keepalive, from the transport's side)."""
        self._outgoing += self.send_ping(payload)

    def send_pong(self, payload: bytes = b"") -> bytes:
        """An unsolicited pong (a unidirectional heartbeat, RFC 6455 5.5.3)."""
        self._check_open()
        if len(payload) > 125:
            raise ValueError("a pong payload is at most 125 bytes")
        return self._writer.frame(OP_PONG, payload)

    def send_close(self, code: int | None = 1000, reason: str = "") -> bytes:
        """Start the close handshake, or answer the peer's; b'' if already done.

        ``code=None`` sends a close frame without a code.  1005, 1006, 1015
        and other codes that may not appear on the wire raise ValueError.
        """
        if self.state is ConnectionState.OPEN:
            data = self._writer.close(code, reason)
            self.local_close = CloseConnection(CLOSE_NO_STATUS_RCVD if code is None else code, reason)
            self.state = ConnectionState.LOCAL_CLOSING
            return data
        if self.state is ConnectionState.CONNECTING:
            raise RuntimeError("the handshake is not finished")
        # Closing or closed already: nothing more to say.
        if code is not None and not is_valid_close_code(code):
            raise ValueError(f"close code {code} may not be sent")
        return b""

    def data_to_send(self) -> bytes:
        """Bytes the protocol made us owe the peer (pongs, close replies, errors)."""
        if not self._outgoing:
            return b""
        return bytes(self._take_outgoing())

    def _take_outgoing(self) -> bytearray:
        data = self._outgoing
        self._outgoing = bytearray()
        return data

    # -- the outcome ------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state is ConnectionState.CLOSED

    @property
    def close_code(self) -> int:
        """The peer's close code; ours if we failed the connection; else 1006."""
        if self.remote_close is not None:
            return self.remote_close.code
        if self.failure is not None:
            return self.failure.code
        return CLOSE_ABNORMAL_CLOSURE

    @property
    def close_reason(self) -> str:
        if self.remote_close is not None:
            return self.remote_close.reason or ""
        if self.failure is not None:
            return self.failure.reason or ""
        return ""

    @property
    def should_close_transport(self) -> bool:
        """Whether to close the TCP connection now (RFC 6455 section 7.1.1).

        The server closes first once the close handshake is done or the
        connection failed; a client waits for the server to do it.
        """
        return self.state is ConnectionState.CLOSED and not self.client

    def closed_exception(self) -> ConnectionClosed:
        """The exception for an operation attempted on a closed connection."""
        if self.state is ConnectionState.LOCAL_CLOSING and self.local_close is not None:
            code = self.local_close.code
        else:
            code = self.close_code
        cls = ConnectionClosedOK if code in (CLOSE_NORMAL_CLOSURE, CLOSE_GOING_AWAY) else ConnectionClosedError
        return cls(code, self.close_reason)
