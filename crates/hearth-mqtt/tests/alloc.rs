//! Decoding a PUBLISH must not allocate: the broker decodes every message it receives.
//! A counting global allocator (this test binary only) checks that, and that encoding
//! into a buffer with room does not allocate either.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use hearth_mqtt::{Packet, Properties, ProtocolVersion, Publish, QoS, decode, encode};

struct CountingAllocator;

thread_local! {
    // Const-initialised and without a destructor, so touching it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers every operation to the system allocator; only counts.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

/// `copies` encodings of `packet` back to back in one read buffer.
fn stream_of(packet: &Packet, version: ProtocolVersion, copies: usize) -> BytesMut {
    let mut buf = BytesMut::new();
    for _ in 0..copies {
        encode(packet, version, &mut buf).unwrap();
    }
    buf
}

/// Allocations made while decoding all but the first packet of `buf` (the first split
/// turns the buffer into a shared one, once per buffer, not per packet).
fn allocations_per_stream(mut buf: BytesMut, version: ProtocolVersion) -> usize {
    let first = decode(&mut buf, Some(version), 1 << 20).unwrap();
    assert!(first.is_some());
    allocations_during(|| {
        let mut n_packets = 0;
        while let Some(packet) = decode(&mut buf, Some(version), 1 << 20).unwrap() {
            assert!(matches!(packet, Packet::Publish(_)));
            n_packets += 1;
        }
        assert_eq!(n_packets, 99);
    })
}

fn publish(properties: Properties) -> Packet {
    Packet::Publish(Publish {
        qos: QoS::AtLeastOnce,
        topic: "devices/d1/data".into(),
        packet_id: 7,
        properties,
        payload: Bytes::from_static(br#"{"temperature": 25.5}"#),
        ..Publish::default()
    })
}

#[test]
fn publish_decoding_allocates_only_for_user_properties_and_subscription_ids() {
    for version in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1] {
        let buf = stream_of(&publish(Properties::default()), version, 100);
        assert_eq!(allocations_per_stream(buf, version), 0, "{version:?}");
    }

    let no_vectors = Properties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(60),
        content_type: Some("application/json".into()),
        response_topic: Some("devices/d1/reply".into()),
        correlation_data: Some(Bytes::from_static(b"42")),
        topic_alias: Some(3),
        ..Properties::default()
    };
    let buf = stream_of(&publish(no_vectors), ProtocolVersion::V5, 100);
    assert_eq!(allocations_per_stream(buf, ProtocolVersion::V5), 0);

    // The counter does see allocations: a user property needs its Vec.
    let with_user_property = Properties {
        user_properties: vec![("unit".into(), "celsius".into())],
        ..Properties::default()
    };
    let buf = stream_of(&publish(with_user_property), ProtocolVersion::V5, 100);
    assert_eq!(allocations_per_stream(buf, ProtocolVersion::V5), 99);

    // Encoding into a buffer that has room allocates nothing either.
    let packet = publish(Properties {
        message_expiry_interval: Some(5),
        ..Properties::default()
    });
    let mut out = BytesMut::with_capacity(64 * 1024);
    let allocations = allocations_during(|| {
        for _ in 0..100 {
            encode(&packet, ProtocolVersion::V5, &mut out).unwrap();
        }
    });
    assert_eq!(allocations, 0);
}
