//! Subscriptions: ordinary ones in the trie, shared ones (`$share/group/filter`) as
//! groups in a second trie, and subscribers inside the hub.
//!
//! A subscription the authorizer granted as filtered (`SubscribeVerdict::Filtered`)
//! carries a flag; every delivery on it, retained messages at subscribe time and the
//! choice of a shared group's member included, asks `Authorizer::may_receive` for the
//! session's owner first (see [`Router::owner_may_receive`]).

use hearth_bus::{Authorizer, Principal, SubscribeVerdict, Subscription};
use hearth_mqtt::{
    ByteStr, Packet, Properties, QoS, ReasonCode, RetainHandling, SubAck, SubscriptionOptions,
    UnsubAck,
};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::Router;
use super::event::{ConnId, SubscribeRequest};
use super::publish::Match;
use super::session::{Link, Session, SessionId, SubscriptionEntry};
use crate::connection::queue::OutItem;
use crate::topic;

/// The members of one shared subscription (one group name and filter). Each message
/// matching the filter goes to one member, chosen round-robin among those connected.
pub(crate) struct SharedGroup {
    pub members: Vec<(SessionId, SubscriptionEntry)>,
    next: usize,
}

impl Router {
    pub(super) fn on_subscribe(
        &mut self,
        conn: ConnId,
        packet_id: u16,
        requests: Vec<SubscribeRequest>,
        subscription_id: Option<u32>,
    ) {
        let Some(&session_id) = self.by_conn.get(&conn) else {
            return;
        };
        let mut reasons = Vec::with_capacity(requests.len());
        let mut retained_to_send = Vec::new();
        for request in requests {
            let options = match request.verdict {
                Ok(options) => options,
                Err(reason) => {
                    reasons.push(reason);
                    continue;
                }
            };
            if !self.has_room_for(session_id, &request.filter) {
                tracing::debug!(
                    session = session_id,
                    limit = self.limits.max_subscriptions_per_client,
                    "subscription refused: quota exceeded"
                );
                reasons.push(ReasonCode::QUOTA_EXCEEDED);
                continue;
            }
            let entry = SubscriptionEntry {
                options,
                subscription_id,
                filtered: request.filtered,
            };
            let existed = self.add_subscription(session_id, &request.filter, entry);
            reasons.push(ReasonCode(options.qos as u8));
            let shared = matches!(topic::parse_shared(&request.filter), Ok(Some(_)));
            let wants_retained = match options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendAtSubscribeIfNew => !existed,
                RetainHandling::DoNotSend => false,
            };
            // v5 §4.8.2: retained messages are not sent for shared subscriptions.
            if wants_retained && !shared {
                let now = Instant::now();
                let sessions = &self.sessions;
                let authorizer = &*self.authorizer;
                self.retained.for_each_match(&request.filter, |_, message| {
                    let may_receive = !entry.filtered
                        || owner_may_receive(sessions, authorizer, session_id, &message.topic);
                    if !message.is_expired(now) && may_receive {
                        retained_to_send.push((
                            message.clone(),
                            options.qos.min(message.qos),
                            subscription_id,
                        ));
                    }
                });
            }
        }
        if self
            .sessions
            .get(&session_id)
            .is_some_and(|session| session.persisted)
        {
            self.persist_session(session_id);
        }
        let suback = SubAck {
            packet_id,
            reasons,
            properties: Properties::default(),
        };
        self.push_to_session(
            session_id,
            OutItem::Control(Box::new(Packet::SubAck(suback))),
        );
        for (message, qos, subscription_id) in retained_to_send {
            self.deliver(
                session_id,
                &message,
                qos,
                true,
                subscription_id.into_iter().collect(),
            );
        }
    }

    /// Whether the session may subscribe to `filter` under
    /// `Limits::max_subscriptions_per_client`: renewing a subscription it already has
    /// always may, since it adds nothing; shared subscriptions are in the same map and
    /// count like any other.
    fn has_room_for(&self, session_id: SessionId, filter: &str) -> bool {
        self.sessions.get(&session_id).is_some_and(|session| {
            session.subscriptions.contains_key(filter)
                || session.subscriptions.len() < self.limits.max_subscriptions_per_client
        })
    }

    /// Adds or replaces a subscription. Returns whether it already existed.
    pub(super) fn add_subscription(
        &mut self,
        session_id: SessionId,
        filter: &str,
        entry: SubscriptionEntry,
    ) -> bool {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return false;
        };
        let existed = session
            .subscriptions
            .insert(Arc::from(filter), entry)
            .is_some();
        match topic::parse_shared(filter) {
            Ok(Some((group, inner))) => {
                let key = (Arc::from(group), Arc::from(inner));
                let group_id = match self.shared_index.get(&key) {
                    Some(&id) => id,
                    None => {
                        let id = self.next_shared_group;
                        self.next_shared_group += 1;
                        self.shared_index.insert(key, id);
                        self.shared_trie.insert(inner, id, ());
                        self.shared_groups.insert(
                            id,
                            SharedGroup {
                                members: Vec::new(),
                                next: 0,
                            },
                        );
                        id
                    }
                };
                let group = self
                    .shared_groups
                    .get_mut(&group_id)
                    .expect("indexed group exists");
                match group
                    .members
                    .iter_mut()
                    .find(|(member, _)| *member == session_id)
                {
                    Some(member) => member.1 = entry,
                    None => group.members.push((session_id, entry)),
                }
            }
            _ => {
                self.subscriptions.insert(filter, session_id, entry);
            }
        }
        existed
    }

    /// Removes one subscription from the tries (the caller updates the session).
    pub(super) fn remove_subscription(&mut self, session_id: SessionId, filter: &str) {
        match topic::parse_shared(filter) {
            Ok(Some((group, inner))) => {
                let key: (Arc<str>, Arc<str>) = (Arc::from(group), Arc::from(inner));
                let Some(&group_id) = self.shared_index.get(&key) else {
                    return;
                };
                let Some(shared) = self.shared_groups.get_mut(&group_id) else {
                    return;
                };
                shared.members.retain(|(member, _)| *member != session_id);
                topic::shrink_vec_if_sparse(&mut shared.members);
                if shared.members.is_empty() {
                    self.shared_groups.remove(&group_id);
                    self.shared_index.remove(&key);
                    self.shared_trie.remove(inner, group_id);
                    topic::shrink_map_if_sparse(&mut self.shared_groups);
                    topic::shrink_map_if_sparse(&mut self.shared_index);
                }
            }
            _ => {
                self.subscriptions.remove(filter, session_id);
            }
        }
    }

    pub(super) fn on_unsubscribe(&mut self, conn: ConnId, packet_id: u16, filters: Vec<ByteStr>) {
        let Some(&session_id) = self.by_conn.get(&conn) else {
            return;
        };
        let mut reasons = Vec::with_capacity(filters.len());
        for filter in filters {
            let removed = self
                .sessions
                .get_mut(&session_id)
                .is_some_and(|session| session.subscriptions.remove(filter.as_str()).is_some());
            if removed {
                self.remove_subscription(session_id, &filter);
                reasons.push(ReasonCode::SUCCESS);
            } else {
                reasons.push(ReasonCode::NO_SUBSCRIPTION_EXISTED);
            }
        }
        if let Some(session) = self.sessions.get_mut(&session_id) {
            topic::shrink_map_if_sparse(&mut session.subscriptions);
        }
        if self
            .sessions
            .get(&session_id)
            .is_some_and(|session| session.persisted)
        {
            self.persist_session(session_id);
        }
        let unsuback = UnsubAck {
            packet_id,
            reasons,
            properties: Properties::default(),
        };
        self.push_to_session(
            session_id,
            OutItem::Control(Box::new(Packet::UnsubAck(unsuback))),
        );
    }

    /// Adds one member of every shared group matching `topic` to `matches`.
    pub(super) fn match_shared(&mut self, topic: &str, matches: &mut Vec<Match>) {
        if self.shared_groups.is_empty() {
            return;
        }
        let mut hits = std::mem::take(&mut self.shared_hits);
        hits.clear();
        self.shared_trie
            .for_each_match(topic, |group_id, _| hits.push(group_id));
        for &group_id in &hits {
            let Some(group) = self.shared_groups.get_mut(&group_id) else {
                continue;
            };
            let n = group.members.len();
            // Prefer a connected member; if none is, queue for the next in turn so that
            // persistent members still get their share when they return. Members whose
            // filtered subscription may not receive this topic are passed over: the
            // message goes to one that may, or to nobody.
            let mut chosen = None;
            let mut first_offline = None;
            for step in 0..n {
                let index = (group.next + step) % n;
                let (session_id, entry) = group.members[index];
                if entry.filtered
                    && !owner_may_receive(&self.sessions, &*self.authorizer, session_id, topic)
                {
                    continue;
                }
                let connected = self
                    .sessions
                    .get(&session_id)
                    .is_some_and(|s| !matches!(s.link, Link::Offline));
                if connected {
                    chosen = Some(index);
                    break;
                }
                first_offline.get_or_insert(index);
            }
            let Some(index) = chosen.or(first_offline) else {
                continue;
            };
            group.next = (index + 1) % n;
            let (session, entry) = group.members[index];
            matches.push(Match::new(session, entry));
        }
        self.shared_hits = hits;
    }

    /// A subscriber inside the hub: a session whose link is a bounded channel.
    pub(super) fn local_subscribe(
        &mut self,
        filter: String,
        capacity: usize,
        retained: bool,
        reply: oneshot::Sender<Subscription>,
    ) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let id = self.next_session;
        self.next_session += 1;
        let client_id: Arc<str> = Arc::from(format!("$local/{id}"));
        // Not registered by client id: no network client can take over a local session.
        self.sessions.insert(
            id,
            Box::new(Session::new(id, client_id, Link::Local(sender))),
        );
        let options = SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            ..SubscriptionOptions::default()
        };
        self.add_subscription(
            id,
            &filter,
            SubscriptionEntry {
                options,
                subscription_id: None,
                filtered: false,
            },
        );
        if reply.send(Subscription { receiver }).is_err() {
            self.end_session(id);
            return;
        }
        if retained {
            let now = Instant::now();
            let mut matching = Vec::new();
            self.retained.for_each_match(&filter, |_, message| {
                if !message.is_expired(now) {
                    matching.push(message.clone());
                }
            });
            for message in matching {
                self.deliver(id, &message, message.qos, true, Vec::new());
            }
        }
    }

    /// Whether a subscription restored from disk is filtered. The record keeps no
    /// verdict, so the authorizer is asked again with the owner kept in the record; a
    /// filter it now refuses stays, filtered, so that every delivery is checked. A session
    /// without a recorded owner (written before owners were kept) keeps its
    /// subscriptions as they were granted.
    pub(super) fn filtered_after_restore(
        &self,
        owner: Option<&Principal>,
        client_id: &str,
        filter: &str,
    ) -> bool {
        let Some(owner) = owner else {
            return false;
        };
        match topic::parse_subscription(filter) {
            Ok((_, inner)) => {
                self.authorizer.authorize_subscribe(owner, client_id, inner)
                    != SubscribeVerdict::Allow
            }
            Err(_) => true,
        }
    }
}

/// Whether the owner of `session_id` may receive a message on `topic` through a filtered
/// subscription (`Authorizer::may_receive`). A session without an owner (inside the hub)
/// never has a filtered subscription; if one had, it would receive nothing.
pub(super) fn owner_may_receive(
    sessions: &HashMap<SessionId, Box<Session>>,
    authorizer: &dyn Authorizer,
    session_id: SessionId,
    topic: &str,
) -> bool {
    sessions
        .get(&session_id)
        .and_then(|session| session.principal.as_ref())
        .is_some_and(|owner| authorizer.may_receive(owner, topic))
}
