"""How-to: TLS on both sides, with certificates from a private authority.

``trustme`` (pip install trustme) plays the certificate authority so that
the example runs anywhere; with real certificates, load them into the
contexts instead (``load_cert_chain``, ``load_verify_locations``).
"""

import ssl
from functools import partial

import anyio
import trustme

from asyncwebsockets import HandshakeError, create_websocket, open_websocket, serve


async def hello(ws):
    await ws.send("hello over TLS")


async def main():
    ca = trustme.CA()

    # The server presents a certificate for 127.0.0.1 and localhost...
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    # ...and asks clients for one signed by the same authority.
    server_context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_context)

    # The client trusts the authority and has a certificate of its own.
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    ca.issue_cert("client@example.com").configure_cert(client_context)

    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, hello, "127.0.0.1", 0, ssl=server_context))
        url = f"wss://127.0.0.1:{server.port}/"

        # Without ssl=..., the system's trusted authorities are used: they
        # do not know ours, so the client refuses the server's certificate.
        try:
            await create_websocket(url)
        except HandshakeError as exc:
            print("default context:", type(exc.__cause__).__name__)

        async with open_websocket(url, ssl=client_context) as ws:
            print("own context:", (await ws.receive()).data)

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
