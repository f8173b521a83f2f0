//! Two Hearth nodes' commands services over ONE store (SQLite file, PostgreSQL), as in
//! external-broker mode (issue 21, docs/scale.md "Commands across nodes"): each node
//! runs its own `Commands` in cluster mode, the API that sends a command may be on
//! either node, and a device's answer reaches one node only.
//!
//! The bus is the built-in broker, with a real MQTT client as the device. What an
//! external broker's shared subscription does to the command acks (`$share/hearth/...`:
//! each message to one member of the group) is done by [`SharedAcks`], which hands
//! each answer to the one node the test names; everything else goes through the
//! broker unchanged. (crates/hearth/tests/external runs the real shared subscription
//! in Mosquitto with `hearth serve` nodes.) Node 0 is the coordinator: it alone hears
//! presence from ingest; node 1 hears none, and relies on the store.

mod protocol_hub;

use async_trait::async_trait;
use hearth_broker::{Broker, BrokerConfig};
use hearth_bus::{
    AckToken, Bus, BusError, ClientEvent, ClientEvents, ClientObserver, Envelope, Interceptor,
    Subscription,
};
use hearth_model::{Command, CommandStatus, DeviceId, now_millis, topic};
use hearth_services::commands::{CommandConfig, CommandOptions, Commands};
use hearth_services::ingest::{Ingest, IngestConfig};
use hearth_services::{Registry, RegistryAuthorizer, registry::DeviceSpec};
use hearth_store::Store;
use hearth_testkit::{both_backends, ids};
use parking_lot::Mutex;
use protocol_hub::failing_store::FailingStore;
use protocol_hub::{ACK_TIMEOUT_SECS, ADMIN_PASSWORD, eventually, wait_for};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;

/// The command acks as a shared subscription splits them: each answer to one node,
/// the one `route_to` names (`ROUND_ROBIN`: taking turns, as Mosquitto does).
struct SharedAcks {
    members: Mutex<[Option<Arc<dyn Interceptor>>; 2]>,
    route_to: AtomicUsize,
    turn: AtomicUsize,
    /// Answers handed to each node.
    delivered: [AtomicU64; 2],
}

const ROUND_ROBIN: usize = usize::MAX;

impl Interceptor for SharedAcks {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        let node = match self.route_to.load(Ordering::SeqCst) {
            ROUND_ROBIN => self.turn.fetch_add(1, Ordering::SeqCst) % 2,
            node => node,
        };
        let member = self.members.lock()[node].clone();
        if let Some(member) = member {
            self.delivered[node].fetch_add(1, Ordering::SeqCst);
            member.intercept(message, ack);
        }
    }
}

/// One node's bus: the broker's handle, except that its command-ack interceptor joins
/// the shared group instead of seeing every answer.
struct NodeBus {
    broker: Arc<dyn Bus>,
    node: usize,
    acks: Arc<SharedAcks>,
}

#[async_trait]
impl Bus for NodeBus {
    async fn publish(&self, message: Envelope) -> Result<(), BusError> {
        self.broker.publish(message).await
    }
    async fn subscribe(&self, filter: &str) -> Result<Subscription, BusError> {
        self.broker.subscribe(filter).await
    }
    async fn kick(&self, client_id: &str) -> Result<bool, BusError> {
        self.broker.kick(client_id).await
    }
    fn intercept(&self, filter: &str, interceptor: Arc<dyn Interceptor>) -> Result<(), BusError> {
        if filter == topic::ACKS_FILTER {
            self.acks.members.lock()[self.node] = Some(interceptor);
            return Ok(());
        }
        self.broker.intercept(filter, interceptor)
    }
    fn client_events(&self) -> tokio::sync::mpsc::UnboundedReceiver<ClientEvent> {
        self.broker.client_events()
    }
    fn observe_client_events(&self, observer: ClientObserver) {
        self.broker.observe_client_events(observer)
    }
}

struct Cluster {
    store: Arc<dyn Store>,
    broker: Broker,
    _ingest: Ingest,
    _watcher: tokio::task::JoinHandle<()>,
    /// Node 1's presence feed, which never says anything.
    _quiet: broadcast::Sender<hearth_services::ingest::PresenceEvent>,
    nodes: [Commands; 2],
    acks: Arc<SharedAcks>,
    secret: String,
}

impl Cluster {
    /// Device `d0`, the broker, ingest, and two commands services in cluster mode:
    /// node `n` on `node_stores[n]` (the shared store, or a wrapper around it). Node 0
    /// hears ingest's presence events if `coordinator`; node 1 never does.
    async fn start(
        store: Arc<dyn Store>,
        node_stores: [Arc<dyn Store>; 2],
        coordinator: bool,
    ) -> Cluster {
        let registry = Registry::new(store.clone());
        registry
            .ensure_owner(Some(ADMIN_PASSWORD.into()))
            .await
            .unwrap();
        let secret = registry
            .add_devices("test", vec![DeviceSpec::new(ids::device("d0"))], &|_| {})
            .await
            .unwrap()
            .remove(0)
            .1;
        let authorizer = RegistryAuthorizer::load(store.clone(), false, None)
            .await
            .unwrap();
        let client_events = Arc::new(ClientEvents::new());
        let connections = Some(client_events.subscribe());
        let broker = Broker::start_with_events(
            BrokerConfig::ephemeral(),
            authorizer.clone(),
            None,
            client_events,
        )
        .await
        .unwrap();
        let bus: Arc<dyn Bus> = Arc::new(broker.handle());
        let watcher = authorizer.watch(bus.clone());
        let ingest = Ingest::start(
            store.clone(),
            bus.clone(),
            connections,
            IngestConfig::default(),
        )
        .await
        .unwrap();
        let acks = Arc::new(SharedAcks {
            members: Mutex::new([None, None]),
            route_to: AtomicUsize::new(ROUND_ROBIN),
            turn: AtomicUsize::new(0),
            delivered: [AtomicU64::new(0), AtomicU64::new(0)],
        });
        bus.intercept(topic::ACKS_FILTER, acks.clone()).unwrap();
        let config = CommandConfig {
            ack_timeout_secs: ACK_TIMEOUT_SECS,
            ..CommandConfig::default()
        };
        let (quiet, quiet_rx) = broadcast::channel(1);
        let presence_0 = match coordinator {
            true => ingest.presence_events(),
            false => quiet.subscribe(),
        };
        let [store_0, store_1] = node_stores;
        let mut nodes = Vec::new();
        for (node, (node_store, presence)) in [(store_0, presence_0), (store_1, quiet_rx)]
            .into_iter()
            .enumerate()
        {
            let node_bus = Arc::new(NodeBus {
                broker: bus.clone(),
                node,
                acks: acks.clone(),
            });
            let options = CommandOptions {
                encoder: None,
                cluster: true,
            };
            nodes.push(
                Commands::start_with_options(
                    node_store,
                    node_bus,
                    presence,
                    config.clone(),
                    options,
                )
                .await
                .unwrap(),
            );
        }
        let nodes: [Commands; 2] = nodes.try_into().unwrap_or_else(|_| unreachable!());
        Cluster {
            store,
            broker,
            _ingest: ingest,
            _watcher: watcher,
            _quiet: quiet,
            nodes,
            acks,
            secret,
        }
    }

    async fn online(&self) -> bool {
        self.store
            .device(&DeviceId::new("d0").unwrap())
            .await
            .unwrap()
            .live
            .is_online
    }

    /// Device `d0` over MQTT 5 with a session that outlives its connection (so that
    /// its subscription is in place the moment it comes back): counts each command it
    /// receives by id and acknowledges it with `{"on": true}`. Subscribes if asked.
    async fn device(&self, subscribe: bool) -> (AsyncClient, Arc<Mutex<HashMap<String, u32>>>) {
        let port = self.broker.local_addrs().mqtt.unwrap().port();
        let mut options = MqttOptions::new("d0", "127.0.0.1", port);
        options
            .set_credentials("d0", self.secret.as_str())
            .set_clean_start(false)
            .set_session_expiry_interval(Some(600));
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        wait_for(&mut eventloop, |packet| {
            matches!(packet, Packet::ConnAck(_))
        })
        .await;
        if subscribe {
            client
                .subscribe("devices/d0/commands/+", QoS::AtLeastOnce)
                .await
                .unwrap();
            wait_for(&mut eventloop, |packet| matches!(packet, Packet::SubAck(_))).await;
        }
        let received = Arc::new(Mutex::new(HashMap::new()));
        let counted = received.clone();
        let answering = client.clone();
        tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                let Event::Incoming(Packet::Publish(publish)) = event else {
                    continue;
                };
                let params: serde_json::Value =
                    serde_json::from_slice(&publish.payload).unwrap_or_default();
                let id = params["id"].as_str().unwrap_or_default().to_owned();
                *counted.lock().entry(id.clone()).or_insert(0) += 1;
                let reply = serde_json::json!({"id": id, "state": {"on": true}});
                let topic = format!("{}/ack", String::from_utf8_lossy(&publish.topic));
                let _ = answering
                    .publish(topic, QoS::AtLeastOnce, false, reply.to_string())
                    .await;
            }
        });
        (client, received)
    }
}

/// Every command a node hands to its in-process listeners (`outcomes`), in order.
fn record_outcomes(commands: &Commands) -> Arc<Mutex<Vec<Command>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recording = seen.clone();
    let mut outcomes = commands.outcomes();
    tokio::spawn(async move {
        while let Ok(command) = outcomes.recv().await {
            recording.lock().push(command);
        }
    });
    seen
}

fn statuses(seen: &Mutex<Vec<Command>>, id: &str) -> Vec<CommandStatus> {
    seen.lock()
        .iter()
        .filter(|command| command.id == id)
        .map(|command| command.status)
        .collect()
}

async fn stored_status(store: &dyn Store, id: &str) -> CommandStatus {
    store.command(id).await.unwrap().status
}

/// Sleeps until `at_ms` (wall clock), plus two adoption ticks.
async fn past(at_ms: i64) {
    let wait = (at_ms - now_millis()).max(0) as u64 + 2_500;
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// Node 0's API sends the command; the device's answer reaches node 1 only.
/// `blind_sender`: node 0 cannot read the open commands (its adoption tick fails), so
/// that it learns of the answer only when its own timeout loses to it in the store.
async fn answered_at_the_other_node(store: Arc<dyn Store>, blind_sender: bool) {
    let sender = FailingStore::new(store.clone());
    let cluster = Cluster::start(
        store.clone(),
        [sender.clone() as Arc<dyn Store>, store.clone()],
        true,
    )
    .await;
    cluster.acks.route_to.store(1, Ordering::SeqCst);
    sender
        .fail_command_reads
        .store(blind_sender, Ordering::SeqCst);
    let seen = [
        record_outcomes(&cluster.nodes[0]),
        record_outcomes(&cluster.nodes[1]),
    ];
    let (_device, received) = cluster.device(true).await;
    assert!(eventually(|| cluster.online()).await);

    let command = cluster.nodes[0]
        .send(
            "user:alice",
            &ids::device("d0"),
            "relay",
            serde_json::json!({"on": true}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(command.status, CommandStatus::Sent, "the device is online");
    assert!(
        eventually(|| async { stored_status(store.as_ref(), &command.id).await.is_final() }).await
    );
    assert_eq!(
        stored_status(store.as_ref(), &command.id).await,
        CommandStatus::Acked
    );
    // Past the sender's acknowledgement window: nothing overwrote the answer.
    past(command.sent_at_ms.unwrap() + i64::from(ACK_TIMEOUT_SECS) * 1_000).await;
    let stored = store.command(&command.id).await.unwrap();
    assert_eq!(stored.status, CommandStatus::Acked);
    assert_eq!(stored.reported_state, Some(serde_json::json!({"on": true})));
    assert_eq!(cluster.acks.delivered[1].load(Ordering::SeqCst), 1);
    assert_eq!(cluster.acks.delivered[0].load(Ordering::SeqCst), 0);
    assert_eq!(received.lock().get(&command.id), Some(&1), "delivered once");
    // The sender's listeners heard the outcome once (from the store: node 1 announced
    // it on the bus), and no timeout; node 1's heard the answer it stored.
    use CommandStatus::*;
    assert_eq!(statuses(&seen[0], &command.id), [Pending, Sent, Acked]);
    // ([Acked]; [Sent, Acked] had node 1 claimed it.)
    let heard_at_1 = statuses(&seen[1], &command.id);
    assert_eq!(heard_at_1.last(), Some(&Acked), "{heard_at_1:?}");
    assert_eq!(
        heard_at_1.iter().filter(|status| status.is_final()).count(),
        1,
        "{heard_at_1:?}"
    );
    let [sender_counters, other_counters] =
        [cluster.nodes[0].counters(), cluster.nodes[1].counters()];
    // Sent once, by the sender (or, should node 1's tick have read it pending in the
    // moment before the sender's claim, by node 1: never by both).
    assert_eq!(
        sender_counters.sent.load(Ordering::SeqCst) + other_counters.sent.load(Ordering::SeqCst),
        1
    );
    assert_eq!(sender_counters.acked.load(Ordering::SeqCst), 0);
    assert_eq!(other_counters.acked.load(Ordering::SeqCst), 1);
    for counters in [sender_counters, other_counters] {
        assert_eq!(counters.timeout.load(Ordering::SeqCst), 0);
    }
    assert!(
        !sender
            .committed
            .lock()
            .iter()
            .any(|(id, status)| id == &command.id && status.is_final()),
        "the sender stored no outcome of its own"
    );
    assert_eq!(cluster.nodes[0].armed_deadlines(), 0);
    assert_eq!(cluster.nodes[1].armed_deadlines(), 0);
    if blind_sender {
        assert!(
            sender.refused.load(Ordering::SeqCst) > 0,
            "node 0 was blind"
        );
        assert!(
            sender_counters.superseded.load(Ordering::SeqCst) >= 1,
            "the sender's timeout lost to the answer"
        );
    }
    for node in &cluster.nodes {
        node.shutdown().await;
    }
}

/// The sender learns of the outcome at its adoption tick.
async fn an_answer_at_the_other_node_is_applied_once(store: Arc<dyn Store>) {
    answered_at_the_other_node(store, false).await;
}

/// The sender does not adopt (its reads fail): its timeout is a compare and set that
/// loses to the answer node 1 stored, and it takes node 1's version.
async fn a_timeout_does_not_overwrite_an_answer_stored_by_the_other_node(store: Arc<dyn Store>) {
    answered_at_the_other_node(store, true).await;
}

/// Pending commands sent through both nodes' APIs while the device is offline: once
/// it is back, each is delivered exactly once although both nodes hold it (node 0
/// hears presence if `coordinator`, node 1 reads the store at its adoption tick), and
/// the answers, split between the nodes, ack each once.
async fn delivered_once_when_the_device_comes_online(store: Arc<dyn Store>, coordinator: bool) {
    let cluster = Cluster::start(store.clone(), [store.clone(), store.clone()], coordinator).await;
    // The device's session (and subscription) outlives its connection.
    let (device, _) = cluster.device(true).await;
    assert!(eventually(|| cluster.online()).await);
    device.disconnect().await.unwrap();
    assert!(eventually(|| async { !cluster.online().await }).await);

    let n_commands = 10;
    let mut ids_sent = Vec::new();
    for index in 0..n_commands {
        let command = cluster.nodes[index % 2]
            .send(
                "user:alice",
                &ids::device("d0"),
                "relay",
                serde_json::json!({"index": index}),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            command.status,
            CommandStatus::Pending,
            "the device is offline"
        );
        ids_sent.push(command.id);
    }
    // Both nodes hold every one before the device comes back.
    assert!(
        eventually(|| async {
            cluster
                .nodes
                .iter()
                .all(|node| node.armed_deadlines() == n_commands as u64)
        })
        .await
    );
    let (_device, received) = cluster.device(false).await;
    for id in &ids_sent {
        assert!(eventually(|| async { stored_status(store.as_ref(), id).await.is_final() }).await);
    }
    let last_sent = latest_sent_at(store.as_ref(), &ids_sent).await;
    past(last_sent).await;
    for id in &ids_sent {
        assert_eq!(
            stored_status(store.as_ref(), id).await,
            CommandStatus::Acked
        );
        assert_eq!(
            received.lock().get(id),
            Some(&1),
            "command {id} delivered once"
        );
    }
    assert_eq!(received.lock().len(), n_commands, "nothing else delivered");
    let total = |pick: fn(&hearth_services::commands::CommandCounters) -> &AtomicU64| {
        cluster
            .nodes
            .iter()
            .map(|node| pick(node.counters()).load(Ordering::SeqCst))
            .sum::<u64>()
    };
    assert_eq!(total(|counters| &counters.sent), n_commands as u64);
    assert_eq!(total(|counters| &counters.acked), n_commands as u64);
    assert_eq!(total(|counters| &counters.timeout), 0);
    for node in &cluster.nodes {
        assert_eq!(node.armed_deadlines(), 0);
        node.shutdown().await;
    }
}

/// Node 0 hears presence from ingest and delivers at once; node 1 reads the store and
/// may claim some first.
async fn pending_commands_are_delivered_once_when_the_device_comes_online(store: Arc<dyn Store>) {
    delivered_once_when_the_device_comes_online(store, true).await;
}

/// Neither node hears presence (the coordinator is elsewhere): both find the device
/// online in the store at their adoption ticks, and each command still goes out once.
async fn without_presence_events_pending_commands_go_out_from_the_store(store: Arc<dyn Store>) {
    delivered_once_when_the_device_comes_online(store, false).await;
}

/// The latest `sent_at_ms` of the commands.
async fn latest_sent_at(store: &dyn Store, ids_sent: &[String]) -> i64 {
    let mut latest = 0;
    for id in ids_sent {
        latest = latest.max(store.command(id).await.unwrap().sent_at_ms.unwrap_or(0));
    }
    latest
}

both_backends!(
    an_answer_at_the_other_node_is_applied_once,
    a_timeout_does_not_overwrite_an_answer_stored_by_the_other_node,
    pending_commands_are_delivered_once_when_the_device_comes_online,
    without_presence_events_pending_commands_go_out_from_the_store,
);
