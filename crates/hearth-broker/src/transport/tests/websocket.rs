//! MQTT over WebSocket, against a tokio-tungstenite client.

use std::io::ErrorKind;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

use super::{client_config, dev_certificate, tcp_pair, tls_connect};
use crate::transport::{
    TransportError, WsByteStream, WsConfig, accept_tls, accept_websocket,
    accept_websocket_with_config, tls_config_from_pem,
};

type Client<S = TcpStream> = WebSocketStream<S>;

/// The client's upgrade request for `path`, offering `subprotocols` if given.
fn upgrade_request(
    path: &str,
    subprotocols: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = format!("ws://localhost{path}")
        .into_client_request()
        .unwrap();
    if let Some(subprotocols) = subprotocols {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(subprotocols).unwrap(),
        );
    }
    request
}

/// Runs both sides of the upgrade over `client_io`/`server_io`; the server serves `/mqtt`.
async fn upgrade<S: crate::transport::ByteStream, C: AsyncRead + AsyncWrite + Unpin>(
    client_io: C,
    server_io: S,
    path: &str,
    subprotocols: Option<&str>,
    config: &WsConfig,
) -> (
    Result<(Client<C>, Response), WsError>,
    Result<WsByteStream<S>, TransportError>,
) {
    tokio::join!(
        client_async(upgrade_request(path, subprotocols), client_io),
        accept_websocket_with_config(server_io, "/mqtt", config)
    )
}

/// An accepted connection offering "mqtt", with the client's view of the answer.
async fn connected(config: &WsConfig) -> (Client, Response, WsByteStream<TcpStream>) {
    let (client_tcp, server_tcp) = tcp_pair().await;
    let (client, server) = upgrade(client_tcp, server_tcp, "/mqtt", Some("mqtt"), config).await;
    let (client, response) = client.unwrap();
    (client, response, server.unwrap())
}

fn answered_subprotocol(response: &Response) -> Option<&str> {
    response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|value| value.to_str().unwrap())
}

/// The client's next data or control message, failing the test after a few seconds.
async fn next_message<S: AsyncRead + AsyncWrite + Unpin>(client: &mut Client<S>) -> Message {
    tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .expect("client got no message in time")
        .expect("client stream ended")
        .expect("client read failed")
}

#[tokio::test]
async fn mqtt_bytes_cross_frame_boundaries_both_ways() {
    let (mut client, response, mut server) = connected(&WsConfig::default()).await;
    assert_eq!(answered_subprotocol(&response), Some("mqtt"));

    // A CONNECT split over three frames, then PINGREQ and DISCONNECT in one frame.
    let connect: &[u8] = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04test";
    let frames: [&[u8]; 4] = [
        &connect[..1],
        &connect[1..7],
        &connect[7..],
        b"\xc0\x00\xe0\x00",
    ];
    for frame in frames {
        client
            .send(Message::Binary(Bytes::copy_from_slice(frame)))
            .await
            .unwrap();
    }
    let expected = frames.concat();
    let mut received = vec![0u8; expected.len()];
    server.read_exact(&mut received).await.unwrap();
    assert_eq!(received, expected);

    // CONNACK then PINGRESP, each one write: each arrives as its own binary frame.
    server.write_all(b"\x20\x02\x00\x00").await.unwrap();
    server.write_all(b"\xd0\x00").await.unwrap();
    server.flush().await.unwrap();
    assert_eq!(
        next_message(&mut client).await,
        Message::binary(b"\x20\x02\x00\x00".to_vec())
    );
    assert_eq!(
        next_message(&mut client).await,
        Message::binary(b"\xd0\x00".to_vec())
    );
}

#[tokio::test]
async fn legacy_subprotocol_is_answered_and_mqtt_preferred() {
    for (offered, answered) in [("mqttv3.1", "mqttv3.1"), ("mqttv3.1, mqtt", "mqtt")] {
        let (client_tcp, server_tcp) = tcp_pair().await;
        let (client, server) = upgrade(
            client_tcp,
            server_tcp,
            "/mqtt",
            Some(offered),
            &WsConfig::default(),
        )
        .await;
        assert_eq!(answered_subprotocol(&client.unwrap().1), Some(answered));
        server.unwrap();
    }
}

#[tokio::test]
async fn client_without_subprotocol_header_is_accepted() {
    let (client_tcp, server_tcp) = tcp_pair().await;
    let (client, server) =
        upgrade(client_tcp, server_tcp, "/mqtt", None, &WsConfig::default()).await;
    let (mut client, response) = client.unwrap();
    let mut server = server.unwrap();
    assert_eq!(answered_subprotocol(&response), None);

    client
        .send(Message::binary(b"\xc0\x00".to_vec()))
        .await
        .unwrap();
    let mut received = [0u8; 2];
    server.read_exact(&mut received).await.unwrap();
    assert_eq!(&received, b"\xc0\x00");
}

#[tokio::test]
async fn client_offering_only_other_subprotocols_gets_400() {
    let (client_tcp, server_tcp) = tcp_pair().await;
    let (client, server) = upgrade(
        client_tcp,
        server_tcp,
        "/mqtt",
        Some("chat, wamp"),
        &WsConfig::default(),
    )
    .await;
    let Err(WsError::Http(response)) = client else {
        panic!("client expected an HTTP error, got {client:?}");
    };
    assert_eq!(response.status(), 400);
    let body = String::from_utf8(response.body().clone().unwrap()).unwrap();
    assert!(body.contains("\"mqtt\""), "{body}");
    let Err(TransportError::WebSocketRejected { status, reason }) = server else {
        panic!("server expected a rejection, got {server:?}");
    };
    assert_eq!(status, 400);
    assert_eq!(reason, body);
}

#[tokio::test]
async fn wrong_path_gets_404() {
    let (client_tcp, server_tcp) = tcp_pair().await;
    let (client, server) = upgrade(
        client_tcp,
        server_tcp,
        "/ws?client=1",
        Some("mqtt"),
        &WsConfig::default(),
    )
    .await;
    let Err(WsError::Http(response)) = client else {
        panic!("client expected an HTTP error, got {client:?}");
    };
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["Connection"], "close");
    let body = String::from_utf8(response.body().clone().unwrap()).unwrap();
    assert!(body.contains("use /mqtt"), "{body}");
    let Err(TransportError::WebSocketRejected { status, reason }) = server else {
        panic!("server expected a rejection, got {server:?}");
    };
    assert_eq!(status, 404);
    assert!(reason.contains("/ws"), "{reason}");
}

#[tokio::test]
async fn plain_http_request_is_a_handshake_error() {
    let (mut client_tcp, server_tcp) = tcp_pair().await;
    client_tcp
        .write_all(b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let error = accept_websocket(server_tcp, "/mqtt").await.unwrap_err();
    assert!(
        matches!(error, TransportError::WebSocketHandshake(_)),
        "{error:?}"
    );
    // The server hangs up without upgrading.
    let mut answer = Vec::new();
    let _ = client_tcp.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/1.1 101"), "{answer:?}");
}

#[tokio::test]
async fn text_frame_is_a_read_error() {
    let (mut client, _, mut server) = connected(&WsConfig::default()).await;
    client.send(Message::text("CONNECT")).await.unwrap();
    let error = server.read(&mut [0u8; 16]).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidData);
}

#[tokio::test]
async fn close_frame_is_end_of_stream_and_is_answered() {
    let (mut client, _, mut server) = connected(&WsConfig::default()).await;
    client
        .send(Message::binary(b"\xe0\x00".to_vec()))
        .await
        .unwrap();
    client.close(None).await.unwrap();

    let mut received = Vec::new();
    server.read_to_end(&mut received).await.unwrap();
    assert_eq!(received, b"\xe0\x00");
    // The client sees our close reply; once the broker drops the connection, the end.
    assert!(matches!(next_message(&mut client).await, Message::Close(_)));
    drop(server);
    let end = tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .unwrap();
    assert!(end.is_none(), "{end:?}");
}

#[tokio::test]
async fn dropped_socket_without_close_frame_is_end_of_stream() {
    let (client, _, mut server) = connected(&WsConfig::default()).await;
    drop(client);
    assert_eq!(server.read(&mut [0u8; 16]).await.unwrap(), 0);
}

#[tokio::test]
async fn ping_is_answered_while_the_broker_reads() {
    let (mut client, _, mut server) = connected(&WsConfig::default()).await;
    let reader = tokio::spawn(async move {
        let mut received = [0u8; 2];
        server.read_exact(&mut received).await.unwrap();
        received
    });
    client
        .send(Message::Ping(Bytes::from_static(b"hb")))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut client).await,
        Message::Pong(Bytes::from_static(b"hb"))
    );
    client
        .send(Message::binary(b"\xc0\x00".to_vec()))
        .await
        .unwrap();
    assert_eq!(&reader.await.unwrap(), b"\xc0\x00");
}

#[tokio::test]
async fn shutdown_sends_a_close_frame() {
    let (mut client, _, mut server) = connected(&WsConfig::default()).await;
    server.write_all(b"\xe0\x00").await.unwrap();
    server.shutdown().await.unwrap();

    assert_eq!(
        next_message(&mut client).await,
        Message::binary(b"\xe0\x00".to_vec())
    );
    assert!(matches!(next_message(&mut client).await, Message::Close(_)));
    // The client's close reply ends the server's read side too.
    assert!(
        tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(server.read(&mut [0u8; 16]).await.unwrap(), 0);
}

#[tokio::test]
async fn large_writes_become_bounded_frames() {
    let small = WsConfig {
        max_message_size: 1024,
        ..WsConfig::default()
    };
    // Frames never exceed the message limit, nor 16 KiB.
    for (config, payload_len, max_frame) in [
        (small, 3000, 1024),
        (WsConfig::default(), 40_000, 16 * 1024),
    ] {
        let (mut client, _, mut server) = connected(&config).await;
        let payload: Vec<u8> = (0..payload_len).map(|index: u32| index as u8).collect();
        server.write_all(&payload).await.unwrap();
        server.flush().await.unwrap();

        let mut received = Vec::new();
        while received.len() < payload.len() {
            let Message::Binary(frame) = next_message(&mut client).await else {
                panic!("expected binary frames");
            };
            assert!(frame.len() <= max_frame, "frame of {} bytes", frame.len());
            received.extend_from_slice(&frame);
        }
        assert_eq!(received, payload);
    }
}

#[tokio::test]
async fn oversized_message_is_a_read_error() {
    let config = WsConfig {
        max_message_size: 1024,
        ..WsConfig::default()
    };
    let (mut client, _, mut server) = connected(&config).await;
    client
        .send(Message::binary(vec![0x30; 2000]))
        .await
        .unwrap();
    let error = server.read(&mut [0u8; 16]).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidData);
    assert!(error.to_string().contains("too long"), "{error}");
    // The broker drops the connection; the client sees it end.
    drop(server);
    let end = tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .unwrap();
    assert!(!matches!(end, Some(Ok(Message::Binary(_)))), "{end:?}");
}

/// A client that stops reading makes the broker's writes wait instead of piling up
/// in memory: only the kernel's socket buffers fill. Once it reads again, everything
/// arrives and writing resumes.
#[tokio::test]
async fn writes_wait_for_a_client_that_does_not_read() {
    let (mut client, _, mut server) = connected(&WsConfig::default()).await;
    let chunk = vec![0x30u8; 64 * 1024];
    let mut n_written = 0usize;
    while let Ok(result) =
        tokio::time::timeout(Duration::from_millis(300), server.write_all(&chunk)).await
    {
        result.unwrap();
        n_written += chunk.len();
        assert!(n_written < 64 * 1024 * 1024, "writes never blocked");
    }
    assert!(n_written > 0);

    let drain = tokio::spawn(async move {
        let mut n_received = 0usize;
        loop {
            match client.next().await.unwrap().unwrap() {
                Message::Binary(frame) => {
                    assert!(frame.iter().all(|&byte| byte == 0x30));
                    n_received += frame.len();
                }
                Message::Close(_) => break,
                other => panic!("expected binary frames, got {other:?}"),
            }
        }
        n_received
    });
    tokio::time::timeout(Duration::from_secs(5), server.write_all(&chunk))
        .await
        .expect("writing resumes once the client reads")
        .unwrap();
    server.shutdown().await.unwrap();
    let n_received = drain.await.unwrap();
    assert!(
        n_received >= n_written + chunk.len(),
        "{n_received} < {n_written}"
    );
}

/// MQTT over secure WebSocket (8084): TLS first, then the upgrade inside it.
#[tokio::test]
async fn websocket_over_tls() {
    let certificate = dev_certificate();
    let server_config = tls_config_from_pem(
        certificate.cert_pem.as_bytes(),
        certificate.key_pem.as_bytes(),
    )
    .unwrap();
    let acceptor = TlsAcceptor::from(server_config);
    let (client_tcp, server_tcp) = tcp_pair().await;
    let client_tls_config = client_config(&certificate.cert_pem, &[&rustls::version::TLS13]);

    let (client_tls, server_tls) = tokio::join!(
        tls_connect(client_tls_config, client_tcp),
        accept_tls(&acceptor, server_tcp)
    );
    let (client, server) = upgrade(
        client_tls.unwrap(),
        server_tls.unwrap(),
        "/mqtt",
        Some("mqtt"),
        &WsConfig::default(),
    )
    .await;
    let (mut client, response) = client.unwrap();
    let mut server = server.unwrap();
    assert_eq!(answered_subprotocol(&response), Some("mqtt"));

    client
        .send(Message::binary(b"\xc0\x00".to_vec()))
        .await
        .unwrap();
    let mut received = [0u8; 2];
    server.read_exact(&mut received).await.unwrap();
    assert_eq!(&received, b"\xc0\x00");
    server.write_all(b"\xd0\x00").await.unwrap();
    server.flush().await.unwrap();
    assert_eq!(
        next_message(&mut client).await,
        Message::binary(b"\xd0\x00".to_vec())
    );
}
