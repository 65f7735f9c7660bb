# SPDX-License-Identifier: Apache-2.0
"""Raw Kafka-protocol connections for the integration tests: requests are encoded with
kafka-python's protocol classes (python3-kafka), so a test can send exactly the frame it means,
including broken ones, and read the broker's answer or see it close the connection."""
import errno
import select
import socket
import struct
import time

from harness import TestFailure, check, missing

try:
    from kafka.protocol.parser import KafkaProtocol
    from kafka.protocol.produce import ProduceRequest
    from kafka.protocol.fetch import FetchRequest
    from kafka.protocol.metadata import MetadataRequest
    from kafka.protocol.admin import ApiVersionRequest
    from kafka.protocol.offset import OffsetRequest
    from kafka.record.default_records import DefaultRecordBatchBuilder
except ImportError:  # pragma: no cover
    KafkaProtocol = None


def _need():
    if KafkaProtocol is None:
        missing('python3-kafka', 'the raw-socket tests encode requests with it')


class Conn:
    def __init__(self, host, port, timeout=5.0, client_id='sluice-it-raw'):
        _need()
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.proto = KafkaProtocol(client_id=client_id)
        self.pending = []  # responses parsed but not returned yet

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, req):
        """Queues req and sends it; returns its correlation id."""
        corr = self.proto.send_request(req)
        self.sock.sendall(self.proto.send_bytes())
        return corr

    def encode(self, req, correlation_id=1):
        """The full frame (size prefix included) for req, without sending it."""
        p = KafkaProtocol(client_id='sluice-it-raw')
        p.send_request(req, correlation_id=correlation_id)
        return p.send_bytes()

    def recv(self, timeout=10.0):
        """Reads until one response is complete; returns (correlation_id, response).
        Raises TestFailure on timeout or on a closed connection."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure('no response within %.1f s' % timeout)
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            data = self.sock.recv(1 << 20)
            if not data:
                raise TestFailure('connection closed while waiting for a response')
            self.pending += self.proto.receive_bytes(data)
        return self.pending.pop(0)

    def request(self, req, timeout=10.0):
        self.send(req)
        return self.recv(timeout)[1]

    def wait_closed(self, timeout=5.0):
        """True when the peer closes (EOF or reset) within timeout; data it sends first is
        read and ignored."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                data = self.sock.recv(65536)
            except OSError as e:
                if e.errno in (errno.ECONNRESET, errno.EPIPE):
                    return True
                raise
            if not data:
                return True

    def quiet_for(self, secs):
        """True when nothing at all arrives (and the connection stays open) for secs."""
        r, _, _ = select.select([self.sock], [], [], secs)
        return not r


def frame(api_key, api_version, correlation_id, body, client_id=b'sluice-it-raw'):
    """Request header v1 (non-flexible) + body, with the int32 size prefix."""
    hdr = struct.pack('>hhih', api_key, api_version, correlation_id, len(client_id)) + client_id
    msg = hdr + body
    return struct.pack('>i', len(msg)) + msg


def record_batch(values, codec=0, key_prefix=b'raw', ts=None):
    """A valid RecordBatch v2 (CRC32C included) holding values, built by kafka-python."""
    _need()
    b = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                  batch_size=1 << 30)
    ts = int(time.time() * 1000) if ts is None else ts
    for i, v in enumerate(values):
        check(b.append(i, ts, key_prefix + b'-%d' % i, v, []) is not None, 'batch full')
    return bytes(b.build())


def corrupt_crc(batch):
    """The same batch with its last byte (inside the last record, covered by the CRC32C)
    flipped: the length and framing stay valid, only the CRC no longer matches."""
    b = bytearray(batch)
    b[-1] ^= 0x5a
    return bytes(b)


def produce_req(topic_parts, acks=1, timeout_ms=10000, version=3):
    """topic_parts: {topic: {partition: batch_bytes}}."""
    return ProduceRequest[version](
        transactional_id=None, required_acks=acks, timeout=timeout_ms,
        topics=[(t, [(p, b) for p, b in ps.items()]) for t, ps in topic_parts.items()])


def produce_errors(resp):
    """{(topic, partition): (error_code, base_offset)} from a Produce v3+ response."""
    out = {}
    for t, parts in resp.topics:
        for pr in parts:
            out[(t, pr[0])] = (pr[1], pr[2])
    return out


def fetch_req(topic, partition, offset, max_wait_ms, min_bytes=1, max_bytes=1 << 20):
    return FetchRequest[4](replica_id=-1, max_wait_time=max_wait_ms, min_bytes=min_bytes,
                           max_bytes=max_bytes, isolation_level=0,
                           topics=[(topic, [(partition, offset, max_bytes)])])


def fetch_records(resp):
    """[(partition, error_code, high_watermark, records_bytes)] from a Fetch v4 response."""
    out = []
    for t, parts in resp.topics:
        for pr in parts:
            out.append((pr[0], pr[1], pr[2], pr[-1]))
    return out


def metadata_req(topics=None):
    return MetadataRequest[1](topics=topics)


def api_versions_req():
    return ApiVersionRequest[0]()


def list_offsets_req(topic, partition, ts=-1):
    return OffsetRequest[1](replica_id=-1, topics=[(topic, [(partition, ts)])])
