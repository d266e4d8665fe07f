# The numbers of asyncwebsockets/protocol.py as C constants, for the frame
# codec's inner loop, where a Python enum member would cost a look-up and an
# object comparison per frame.  asyncwebsockets/protocol.py is the source:
# tests/test_protocol.py checks every name here against it (OP_X against
# Opcode.X, CLOSE_X against CloseCode.X, the rest against the attribute of
# the same name), so a value changed on one side only fails the tests.

cdef enum:
    OP_CONTINUATION = 0x0
    OP_TEXT = 0x1
    OP_BINARY = 0x2
    OP_CLOSE = 0x8
    OP_PING = 0x9
    OP_PONG = 0xA

    CLOSE_PROTOCOL_ERROR = 1002
    CLOSE_INVALID_DATA = 1007
    CLOSE_MESSAGE_TOO_BIG = 1009

    RSV1 = 0x40
    RSV2 = 0x20
    RSV3 = 0x10
    RSV_ALL = 0x70

    MAX_CONTROL_PAYLOAD = 125
