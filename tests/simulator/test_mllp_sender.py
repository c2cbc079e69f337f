"""The demo's MLLP sender (simulator.sink.MllpSender) against a listener that answers as
the gateway does when Kafka fails: the connection closed without an ACK. The sender must
reconnect and resend the same message, and count only the ACK it finally got."""

from __future__ import annotations

import socket
import threading

import pytest

from simulator.sink import AckMissing, MllpSender

MESSAGE = "MSH|^~\\&|SIMULATOR|HMC|SPOEDSTROOM|ROAZ|20261122081200+0000||ADT^A04^ADT_A01|SIM1|P|2.5\rPID|1\r"
ACK = b"\x0bMSH|^~\\&|SPOEDSTROOM|SPOEDSTROOM|SIMULATOR|HMC|20261122081200||ACK^A04^ACK|SIM1|P|2.5\rMSA|AE|SIM1|unmapped_location: PV1-3\r\x1c\r"


def listener(drops: int) -> tuple[int, list[bytes], threading.Thread]:
    """A one-shot listener: closes the first `drops` connections after reading a block,
    then answers the next one with ACK. Returns its port and the blocks it read."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        with server:
            for attempt in range(drops + 1):
                conn, _ = server.accept()
                with conn:
                    data = b""
                    while not data.endswith(b"\x1c\r"):
                        data += conn.recv(65536)
                    received.append(data)
                    if attempt == drops:
                        conn.sendall(ACK)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server.getsockname()[1], received, thread


def test_a_connection_closed_without_ack_is_resent() -> None:
    port, received, thread = listener(drops=1)
    sender = MllpSender("127.0.0.1", port, timeout=10, attempts=3, stop_event=threading.Event())
    assert sender.send(MESSAGE) == ("AE", "unmapped_location")
    sender.close()
    thread.join(timeout=10)
    assert len(received) == 2 and received[0] == received[1] == b"\x0b" + MESSAGE.encode() + b"\x1c\r"
    assert sender.acks == {"AE": 1}


def test_no_ack_after_every_attempt_is_an_error() -> None:
    port, _received, thread = listener(drops=2)
    sender = MllpSender("127.0.0.1", port, timeout=10, attempts=2, stop_event=threading.Event())
    with pytest.raises(AckMissing, match="after 2 attempts"):
        sender.send(MESSAGE)
    assert sender.acks == {}
