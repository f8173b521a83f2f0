//! TCP, TLS and WebSocket transports (being written).
